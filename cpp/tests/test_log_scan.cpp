// The line scanner on hostile bytes: random buffers, truncated lines, huge numbers and
// unterminated quotes must scan without reading outside the buffer (ASan) and either parse
// or defer each line.
#include <algorithm>
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
    auto parsed = [](const Block& b) {
        return static_cast<std::size_t>(std::count(b.deferred.begin(), b.deferred.end(), 0));
    };
    CHECK(j.values.size() == parsed(j) * 3 && j.codes.size() == parsed(j));
    CHECK(c.values.size() == parsed(c) * 2 && c.codes.size() == parsed(c));
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
    // values are kept for the parsed rows only: rows 0 and 2
    CHECK(b.values.size() == 4);
    CHECK(b.values[0] == 0.5 && b.values[1] == 1.0 && b.values[2] == 0.25 && b.values[3] == 0.0);
}

TEST(scanner_defers_lines_that_repeat_a_key) {
    // json.loads keeps the last of two equal keys; the row parser refuses such a row
    // ('duplicate key'), so the scanner never parses one: at the top level (a wanted key or
    // not) or in a nested object; equal keys in sibling objects are no repeat.
    const std::vector<Field> fields = {Field{"score", -1, Kind::Number, 0, 1}, Field{"label", -1, Kind::Label, 1, 1}};
    Block b;
    b.width = 2;
    scan("{\"score\": 0.1, \"label\": 1, \"score\": 0.9}\n"
         "{\"score\": 0.1, \"label\": 1, \"x\": 1, \"x\": 2}\n"
         "{\"score\": 0.1, \"label\": 1, \"m\": {\"a\": 1, \"b\": [{\"c\": 1, \"c\": 2}]}}\n"
         "{\"score\": 0.1, \"label\": 1, \"m\": {\"a\": 1}, \"n\": {\"a\": 1}}\n"
         "{\"score\": 0.1, \"label\": 1, \"k\": {\"a\": 1, \"b\": 2, \"c\": 3, \"d\": 4, \"e\": 5, "
         "\"f\": 6, \"g\": 7, \"h\": 8, \"i\": 9, \"a\": 10}}\n"
         "{\"score\": 0.1, \"label\": 1, \"m\": {\"a\": 1, \"\\u0061\": 2}}\n",
         '\0', fields, b);
    CHECK(b.deferred.size() == 6);
    CHECK(b.deferred[0] == 1 && b.deferred[1] == 1 && b.deferred[2] == 1);
    CHECK(b.deferred[3] == 0);
    CHECK(b.deferred[4] == 1 && b.deferred[5] == 1);
    CHECK(b.values.size() == 2 && b.values[0] == 0.1 && b.values[1] == 1.0);
}

TEST(scanner_takes_boolean_text_as_csv_labels) {
    // pandas writes a bool column as True/False, spreadsheets as TRUE/FALSE; a score is never one
    const std::vector<Field> fields = {Field{"score", 0, Kind::Number, 0, 1}, Field{"label", 1, Kind::Label, 1, 1}};
    Block b;
    b.width = 2;
    scan("0.5,True\n0.25,false\n0.75,TRUE\n0.5,yes\n0.5, True\ntrue,1\n", ',', fields, b);
    CHECK(b.deferred.size() == 6);
    CHECK(b.deferred[0] == 0 && b.deferred[1] == 0 && b.deferred[2] == 0);
    CHECK(b.deferred[3] == 1 && b.deferred[4] == 1 && b.deferred[5] == 1);  // the row parser decides these
    CHECK(b.values.size() == 6 && b.values[1] == 1.0 && b.values[3] == 0.0 && b.values[5] == 1.0);
}

TEST(scanner_takes_wide_vectors) {
    // K = 10000 (no width limit); a deferred line holds no values however wide the row
    const int k = 10000;
    std::string line = "{\"p\": [";
    for (int i = 0; i < k; ++i) line += (i ? ",0" : "1");
    line += "], \"label\": 3}\n";
    std::string text = line + std::string(1000, 'x').insert(500, "\n") + "\n" + line;
    const std::vector<Field> fields = {Field{"p", -1, Kind::Vector, 0, k}, Field{"label", -1, Kind::Label, k, 1}};
    Block b;
    b.width = k + 1;
    scan(text, '\0', fields, b);
    CHECK(b.deferred.size() == 4);
    CHECK(b.deferred[0] == 0 && b.deferred[1] == 1 && b.deferred[2] == 1 && b.deferred[3] == 0);
    CHECK(b.values.size() == static_cast<std::size_t>(2 * (k + 1)));
    CHECK(b.values[0] == 1.0 && b.values[1] == 0.0 && b.values[static_cast<std::size_t>(k)] == 3.0);
    CHECK(b.values[static_cast<std::size_t>(k + 1)] == 1.0);
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
