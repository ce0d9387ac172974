// Line scanners for prediction logs (CSV and JSONL): pull the wanted numeric fields of each
// line into a row-major block of doubles, intern one text field (the group key), and defer
// every line that is not plainly well-formed to the Python row parser, which owns the skip
// reasons. So the fast path never decides that a row is bad; it only decides that a row is
// plainly good or hands it over. A line whose objects (at any level) repeat a key is handed
// over too: the row parser refuses it ('duplicate key').
//
// Values (and interned codes) are kept for the parsed rows only, so memory is bounded by the
// text: a parsed row holds at least one byte and a separator per value, whatever the width.
#pragma once

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace calipers::logscan {

// Epoch: a time given as a plain number only (an explicit --time-unit scales it; an ISO 8601
// string or a quoted number is deferred to Python, which knows its unit from its spelling).
// Label: a number, or a JSON true/false (1/0: an outcome may be a boolean), or in a CSV cell
// the text true/false, True/False or TRUE/FALSE; a Number (a score, a probability) is never
// a boolean.
enum class Kind : std::uint8_t { Number, Vector, Text, Time, Epoch, Label };

struct Field {
  std::string key;  // JSONL key
  int column = -1;  // CSV column index
  Kind kind = Kind::Number;
  int slot = 0;     // first output slot (Number, Vector, Time, Epoch)
  int length = 1;   // Vector length
};

struct Block {
  int width = 0;                    // doubles per row
  std::vector<double> values;       // parsed rows * width (deferred rows hold none)
  std::vector<std::int32_t> codes;  // interned text per parsed row (empty when there is no text field)
  std::vector<std::uint8_t> deferred;  // per line scanned (blank lines excepted)
  std::vector<std::int64_t> line, start, stop;  // 0-based line in the buffer, byte range
  std::deque<std::string> names;    // interned text, in order of first sight (stable addresses)
  std::unordered_map<std::string_view, std::int32_t> index;  // views into `names`: no copy per lookup
  std::int64_t lines = 0;           // lines scanned (blank ones included)

  std::int32_t intern(std::string_view text) {
    auto found = index.find(text);
    if (found != index.end()) return found->second;
    auto code = static_cast<std::int32_t>(names.size());
    names.emplace_back(text);
    index.emplace(std::string_view(names.back()), code);
    return code;
  }
};

// A decimal number as Python's float() and JSON read it, restricted to the plain forms
// (sign, digits, point, exponent); anything else (spaces, nan, underscores) is deferred.
inline bool parse_number(std::string_view s, double& out) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E')) return false;
  }
  if (s.front() == '+') return false;  // from_chars rejects it; Python accepts: let Python decide
  auto res = std::from_chars(s.data(), s.data() + s.size(), out);
  return res.ec == std::errc() && res.ptr == s.data() + s.size();
}

// JSON's number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
inline bool json_number_token(std::string_view s) {
  std::size_t i = 0, n = s.size();
  auto digits = [&] { std::size_t b = i; while (i < n && s[i] >= '0' && s[i] <= '9') ++i; return i > b; };
  if (i < n && s[i] == '-') ++i;
  if (i < n && s[i] == '0') ++i;
  else if (!digits()) return false;
  if (i < n && s[i] == '.') { ++i; if (!digits()) return false; }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == n;
}

inline bool two_digits(std::string_view s, std::size_t at, int& out) {
  if (at + 2 > s.size() || s[at] < '0' || s[at] > '9' || s[at + 1] < '0' || s[at + 1] > '9') return false;
  out = (s[at] - '0') * 10 + (s[at + 1] - '0');
  return true;
}

// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's days_from_civil).
inline std::int64_t days_from_civil(std::int64_t y, int m, int d) {
  y -= m <= 2;
  std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  std::int64_t yoe = y - era * 400;
  std::int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

// Epoch seconds of YYYY-MM-DD[(T| )HH:MM[:SS[.frac]]][Z|+HH:MM|-HH:MM], naive = UTC, as
// datetime.fromisoformat(...).timestamp() gives it: whole microseconds (extra digits cut)
// divided by 1e6 once. Other forms are deferred to Python.
inline bool parse_iso_time(std::string_view s, double& out) {
  if (s.size() < 10 || s[4] != '-' || s[7] != '-') return false;
  int y_hi, y_lo, mon, day, hour = 0, minute = 0, sec = 0;
  if (!two_digits(s, 0, y_hi) || !two_digits(s, 2, y_lo) || !two_digits(s, 5, mon) || !two_digits(s, 8, day))
    return false;
  static const int month_days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int year = y_hi * 100 + y_lo;
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (year < 1 || mon < 1 || mon > 12 || day < 1 || day > month_days[mon - 1] || (mon == 2 && day == 29 && !leap))
    return false;
  std::size_t i = 10;
  std::int64_t micros = 0, offset = 0;
  if (i < s.size() && (s[i] == 'T' || s[i] == ' ')) {
    if (!two_digits(s, i + 1, hour) || i + 3 >= s.size() || s[i + 3] != ':' || !two_digits(s, i + 4, minute))
      return false;
    i += 6;
    if (i < s.size() && s[i] == ':') {
      if (!two_digits(s, i + 1, sec)) return false;
      i += 3;
      if (i < s.size() && (s[i] == '.' || s[i] == ',')) {
        std::size_t b = ++i;
        std::int64_t scale = 100000;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
          if (scale > 0) { micros += (s[i] - '0') * scale; scale /= 10; }
          ++i;
        }
        if (i == b) return false;
      }
    }
    if (hour > 23 || minute > 59 || sec > 59) return false;
  }
  if (i < s.size()) {
    if (s[i] == 'Z' && i + 1 == s.size()) {
      ++i;
    } else if ((s[i] == '+' || s[i] == '-') && i + 6 == s.size() && s[i + 3] == ':') {
      int oh, om;
      if (!two_digits(s, i + 1, oh) || !two_digits(s, i + 4, om) || oh > 23 || om > 59) return false;
      offset = (s[i] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
      i += 6;
    } else {
      return false;
    }
  }
  std::int64_t seconds = days_from_civil(year, mon, day) * 86400 + hour * 3600 + minute * 60 + sec - offset;
  out = static_cast<double>(seconds * 1000000 + micros) / 1e6;
  return true;
}

// One line's wanted values, filled by a format-specific reader.
struct LineValues {
  double* row;
  std::int32_t code = -1;
  std::vector<bool> seen;
};

// A scalar field's text; `quoted` for a JSON string, which Python takes as text (a group
// key, an ISO time, or a number spelled as a string, which is left to Python).
// The text spellings of a boolean label (as the row parser takes them; padded ones are
// deferred to it).
inline bool boolean_text(std::string_view s, double& out) {
  if (s == "true" || s == "True" || s == "TRUE") { out = 1.0; return true; }
  if (s == "false" || s == "False" || s == "FALSE") { out = 0.0; return true; }
  return false;
}

inline bool take_scalar(const Field& f, std::string_view text, bool quoted, Block& block, LineValues& lv) {
  double v;
  switch (f.kind) {
    case Kind::Label:
      if (quoted) return false;
      if (!parse_number(text, v) && !boolean_text(text, v)) return false;
      lv.row[f.slot] = v;
      return true;
    case Kind::Number:
    case Kind::Epoch:
      if (quoted || !parse_number(text, v)) return false;
      lv.row[f.slot] = v;
      return true;
    case Kind::Time:  // parse_time tries float() first, then ISO 8601
      if (!parse_number(text, v) && !parse_iso_time(text, v)) return false;
      lv.row[f.slot] = v;
      return true;
    case Kind::Text:
      if (text.empty()) return false;  // an empty key is 'missing' to the row parser
      lv.code = block.intern(text);
      return true;
    default:
      return false;
  }
}

// The keys of the objects being read, one list per nesting level (reused across lines).
using KeyStack = std::vector<std::vector<std::string_view>>;

// True when `keys` names a key twice (sorts it: a list of keys of one finished object).
inline bool repeats_a_key(std::vector<std::string_view>& keys) {
  if (keys.size() < 2) return false;
  if (keys.size() <= 8) {
    for (std::size_t a = 0; a < keys.size(); ++a)
      for (std::size_t b = a + 1; b < keys.size(); ++b)
        if (keys[a] == keys[b]) return true;
    return false;
  }
  std::sort(keys.begin(), keys.end());
  return std::adjacent_find(keys.begin(), keys.end()) != keys.end();
}

class JsonLine {
 public:
  static constexpr int kMaxDepth = 64;  // deeper values are deferred (the row parser's rule is 256)

  JsonLine(std::string_view s, const std::vector<Field>& fields, Block& block, LineValues& lv, KeyStack& keys)
      : s_(s), fields_(fields), block_(block), lv_(lv), keys_(keys) {
    // one list per level, sized once: references to them stay valid while skip() recurses
    if (keys_.size() < kMaxDepth + 2) keys_.resize(kMaxDepth + 2);
  }

  bool scan() {
    ws();
    if (!eat('{')) return false;
    ws();
    auto& keys = level(0);
    if (!eat('}')) {
      for (;;) {
        std::string_view key;
        bool plain;
        if (!string(key, plain)) return false;
        ws();
        if (!eat(':')) return false;
        ws();
        if (!plain) return false;  // an escaped key might spell a wanted one: let Python decide
        keys.push_back(key);
        const Field* f = find(key);
        if (f != nullptr) {
          if (!wanted(*f)) return false;
          lv_.seen[f - fields_.data()] = true;
        } else if (!skip(0)) {
          return false;
        }
        ws();
        if (eat(',')) { ws(); continue; }
        if (eat('}')) break;
        return false;
      }
    }
    if (repeats_a_key(keys)) return false;  // the row parser says 'duplicate key'
    ws();
    return i_ == s_.size();
  }

 private:
  std::string_view s_;
  const std::vector<Field>& fields_;
  Block& block_;
  LineValues& lv_;
  KeyStack& keys_;
  std::size_t i_ = 0;

  // The (emptied) key list of an object at nesting `depth` (0 .. kMaxDepth + 1).
  std::vector<std::string_view>& level(int depth) {
    auto& keys = keys_[static_cast<std::size_t>(depth)];
    keys.clear();
    return keys;
  }

  void ws() { while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\r' || s_[i_] == '\n')) ++i_; }
  bool eat(char c) { if (i_ < s_.size() && s_[i_] == c) { ++i_; return true; } return false; }

  const Field* find(std::string_view key) const {
    for (const auto& f : fields_) if (f.key == key) return &f;
    return nullptr;
  }

  // A JSON string; `plain` when it has no escapes (so its bytes are its value).
  bool string(std::string_view& out, bool& plain) {
    if (!eat('"')) return false;
    std::size_t b = i_;
    plain = true;
    while (i_ < s_.size()) {
      auto c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') { out = s_.substr(b, i_ - b); ++i_; return true; }
      if (c < 0x20) return false;
      if (c == '\\') {
        plain = false;
        if (++i_ >= s_.size()) return false;
        char e = s_[i_];
        if (e == 'u') {
          for (int k = 1; k <= 4; ++k) {
            if (i_ + k >= s_.size() || !std::isxdigit(static_cast<unsigned char>(s_[i_ + k]))) return false;
          }
          i_ += 4;
        } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
          return false;
        }
      }
      ++i_;
    }
    return false;
  }

  std::string_view token() {
    std::size_t b = i_;
    while (i_ < s_.size() && std::string_view(",}] \t\r\n").find(s_[i_]) == std::string_view::npos) ++i_;
    return s_.substr(b, i_ - b);
  }

  // A JSON number; true/false too where the row parser takes them as 1 and 0 (labels).
  bool number(double& v, bool booleans) {
    auto t = token();
    if (t == "true" || t == "false") {
      v = t == "true" ? 1.0 : 0.0;
      return booleans;
    }
    if (!json_number_token(t) || !parse_number(t, v)) return false;
    // json.loads reads an integer token as int, so "-0" is 0, not -0.0
    if (v == 0.0 && t.find_first_of(".eE") == std::string_view::npos) v = 0.0;
    return true;
  }

  bool wanted(const Field& f) {
    if (f.kind == Kind::Vector) {
      if (!eat('[')) return false;
      for (int k = 0; k < f.length; ++k) {
        ws();
        double v;
        if (!number(v, false)) return false;
        lv_.row[f.slot + k] = v;
        ws();
        if (k + 1 < f.length && !eat(',')) return false;
      }
      return eat(']');
    }
    if (i_ < s_.size() && s_[i_] == '"') {
      std::string_view text;
      bool plain;
      if (!string(text, plain) || !plain) return false;
      return (f.kind == Kind::Text || f.kind == Kind::Time) && take_scalar(f, text, true, block_, lv_);
    }
    if (f.kind == Kind::Text) return false;  // str() of a number or bool: Python's spelling
    double v;
    if (!number(v, f.kind == Kind::Label)) return false;  // a boolean score or time: the row parser says why
    lv_.row[f.slot] = v;
    return true;
  }

  // Skip (and check) any JSON value.
  bool skip(int depth) {
    if (depth > kMaxDepth || i_ >= s_.size()) return false;
    char c = s_[i_];
    if (c == '"') { std::string_view t; bool p; return string(t, p); }
    if (c == '{' || c == '[') {
      char close = c == '{' ? '}' : ']';
      ++i_;
      ws();
      if (eat(close)) return true;
      auto& keys = level(depth + 1);
      for (;;) {
        if (c == '{') {
          std::string_view k; bool p;
          if (!string(k, p) || !p) return false;  // an escaped key may repeat a plain one: Python decides
          keys.push_back(k);
          ws();
          if (!eat(':')) return false;
          ws();
        }
        if (!skip(depth + 1)) return false;
        ws();
        if (eat(',')) { ws(); continue; }
        if (!eat(close)) return false;
        return c != '{' || !repeats_a_key(keys);
      }
    }
    auto t = token();
    return t == "true" || t == "false" || t == "null" || json_number_token(t);
  }
};

// Fields of one CSV line (no quotes: a quoted line is deferred, quoting rules are Python's).
inline bool scan_csv_line(std::string_view s, char delimiter, const std::vector<Field>& fields, int max_column,
                          Block& block, LineValues& lv) {
  if (s.find('"') != std::string_view::npos) return false;
  std::size_t b = 0;
  int column = 0;
  for (;;) {
    std::size_t e = s.find(delimiter, b);
    std::string_view text = s.substr(b, e == std::string_view::npos ? std::string_view::npos : e - b);
    for (std::size_t k = 0; k < fields.size(); ++k) {
      if (fields[k].column == column) {
        if (!take_scalar(fields[k], text, false, block, lv)) return false;
        lv.seen[k] = true;
      }
    }
    if (e == std::string_view::npos || column >= max_column) break;
    b = e + 1;
    ++column;
  }
  return true;
}

// Scan every line of `text` (a whole number of lines, the last one possibly unterminated).
// `csv_delimiter` == 0 means JSONL.
inline void scan(std::string_view text, char csv_delimiter, const std::vector<Field>& fields, Block& block) {
  int max_column = 0;
  bool has_text = false;
  for (const auto& f : fields) {
    max_column = std::max(max_column, f.column);
    has_text |= f.kind == Kind::Text;
  }
  std::size_t pos = 0;
  std::vector<double> scratch(static_cast<std::size_t>(std::max(block.width, 1)));
  LineValues lv{scratch.data(), -1, std::vector<bool>(fields.size())};
  KeyStack keys;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    std::int64_t lineno = block.lines++;
    std::size_t line_start = pos;
    pos = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    bool blank = csv_delimiter ? line.empty() : line.find_first_not_of(" \t\r\f\v") == std::string_view::npos;
    if (blank) continue;  // skipped by the row readers too, uncounted
    lv.code = -1;
    std::fill(lv.seen.begin(), lv.seen.end(), false);
    bool ok = csv_delimiter ? scan_csv_line(line, csv_delimiter, fields, max_column, block, lv)
                            : JsonLine(line, fields, block, lv, keys).scan();
    for (bool seen : lv.seen) ok = ok && seen;  // a wanted field that is absent: the row parser says why
    block.deferred.push_back(ok ? 0 : 1);
    if (ok) {  // a deferred line holds no values: memory stays bounded by the text whatever the width
      block.values.insert(block.values.end(), scratch.begin(), scratch.begin() + block.width);
      if (has_text) block.codes.push_back(lv.code);
    }
    block.line.push_back(lineno);
    block.start.push_back(static_cast<std::int64_t>(line_start));
    block.stop.push_back(static_cast<std::int64_t>(line_start + line.size()));
  }
}

}  // namespace calipers::logscan
