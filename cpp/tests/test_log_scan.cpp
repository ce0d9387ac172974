// The line scanner on hostile bytes: random buffers, truncated lines, huge numbers and
// unterminated quotes must scan without reading outside the buffer (ASan) and either parse
// or defer each line.
#include <random>
#include <string>
#include <vector>

#include "calipers/log_scan.hpp"
#include "check.hpp"

using namespace calipers::logscan;

namespace {

std::vector<Field> fields_jsonl() {
    return {Field{"score", -1, Kind::Number, 0, 1}, Field{"label", -1, Kind::Number, 1, 1},
            Field{"g", -1, Kind::Text, 0, 1}, Field{"t", -1, Kind::Time, 2, 1}};
}

std::vector<Field> fields_csv() {
    return {Field{"score", 0, Kind::Number, 0, 1}, Field{"label", 1, Kind::Number, 1, 1},
            Field{"g", 2, Kind::Text, 0, 1}};
}

// Scans text as JSONL and as CSV; every row comes out parsed or deferred, never half.
void scan_both(const std::string& text) {
    Block j;
    j.width = 3;
    scan(text, '\0', fields_jsonl(), j);
    Block c;
    c.width = 2;
    scan(text, ',', fields_csv(), c);
    CHECK(j.values.size() == j.deferred.size() * 3);
    CHECK(c.values.size() == c.deferred.size() * 2);
}

}  // namespace

TEST(scanner_parses_plain_lines) {
    Block b;
    b.width = 3;
    scan("{\"score\": 0.25, \"label\": 1, \"g\": \"a\", \"t\": 5}\n{\"score\": \"x\"}\n", '\0', fields_jsonl(), b);
    CHECK(b.deferred.size() == 2);
    CHECK(b.deferred[0] == 0 && b.deferred[1] == 1);
    CHECK(b.values[0] == 0.25 && b.values[1] == 1.0 && b.values[2] == 5.0);
}

TEST(scanner_takes_booleans_as_labels_only) {
    // A JSON true/false is 1/0 for a Label field; for a Number (a score) the line is
    // deferred, and the row parser skips it ('non-numeric').
    const std::vector<Field> fields = {Field{"score", -1, Kind::Number, 0, 1}, Field{"label", -1, Kind::Label, 1, 1}};
    Block b;
    b.width = 2;
    scan("{\"score\": 0.5, \"label\": true}\n{\"score\": true, \"label\": 1}\n{\"score\": 0.25, \"label\": false}\n",
         '\0', fields, b);
    CHECK(b.deferred.size() == 3);
    CHECK(b.deferred[0] == 0 && b.deferred[1] == 1 && b.deferred[2] == 0);
    CHECK(b.values[0] == 0.5 && b.values[1] == 1.0 && b.values[4] == 0.25 && b.values[5] == 0.0);
}

TEST(scanner_survives_random_bytes) {
    std::mt19937 rng(7);
    const std::string alphabet = "{}[]\",:.-+eE0123456789 \t\r\nabcnultrfs\\x\x00\xff";
    for (int round = 0; round < 3000; ++round) {
        std::string text(static_cast<std::size_t>(rng() % 300), ' ');
        for (auto& c : text) c = alphabet[rng() % alphabet.size()];
        scan_both(text);
    }
}

TEST(scanner_handles_truncated_and_extreme_lines) {
    const std::vector<std::string> cases = {
        "{\"score\": 0.5, \"label\": 1", "{\"score\": 1e999, \"label\": 1}\n", "0.5,1,\"unterminated\n",
        "{\"score\": 0.5, \"label\": 1, \"g\": \"\\u00e9\"}", std::string(100000, '9') + ",1,a\n", ",,,,\n", "\n\n\r\n",
        "{\"t\": \"2024-02-30T25:61:61Z\", \"score\": 0.1, \"label\": 0}\n"};
    for (const auto& text : cases) scan_both(text);
}
