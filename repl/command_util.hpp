#pragma once
// What the kadnode commands share: parsing their arguments, building their replies, and
// formatting times, values and nodes for a person. Internal to the REPL.

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "kad/results.hpp"
#include "shell.hpp"
#include "tokenize.hpp"

namespace kadnode {

using json = nlohmann::ordered_json;
using Done = std::function<void(Reply)>;

// ---- formatting ----
std::string fixed(double v, int decimals);
double ms(kad::Duration d);  // milliseconds, to the microsecond
std::string ms_text(kad::Duration d);
std::string span_text(kad::Duration d);  // "42s", "3m12s", "2h5m", "1d3h"
// A value or key for a person: quoted, with control bytes escaped.
std::string quote(std::string_view s);
// quote(s), or for a value longer than `max` bytes its first `max` or so (whole UTF-8
// characters) and its size: "abc"… (1000 bytes).
std::string quote_cut(std::string_view s, std::size_t max);
// A bencoded value (BEP 44) for a person: a string as quote() shows it, anything else as its
// bencoding; cut as quote_cut() cuts, past `max` bytes.
std::string bencoded_text(std::string_view bencoded, std::size_t max = std::string_view::npos);
json node_json(const kad::krpc::NodeInfo& n);
std::string node_line(const kad::krpc::NodeInfo& n);
std::string plural(std::size_t n, const char* one, const char* many);

// ---- arguments ----
bool is_hex_id(std::string_view s);

struct Args {
    std::string_view line;
    std::vector<Word> words;  // words[0] is the command
    std::size_t size() const { return words.size() - 1; }
    const std::string& operator[](std::size_t i) const { return words[i + 1].text; }
    // Words i.. as the rest of the line: one word as it was unquoted, several verbatim.
    std::string rest(std::size_t i) const {
        if (i + 1 == size()) return (*this)[i];
        std::string_view r = line.substr(words[i + 1].begin);
        while (!r.empty() &&
               (r.back() == ' ' || r.back() == '\t' || r.back() == '\r' || r.back() == '\n')) {
            r.remove_suffix(1);
        }
        return std::string(r);
    }
};

// A line the command cannot run: its message is the error shown, with code "bad_argument".
class BadArgument : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

kad::Endpoint parse_endpoint(const std::string& s);
kad::NodeId parse_id(const std::string& s, const char* what);
std::int64_t parse_int(const std::string& s, const char* what, std::int64_t min, std::int64_t max);
const CommandInfo* find_command(std::string_view name);
// Throws BadArgument with the command's usage line.
[[noreturn]] void usage_error(const std::string& cmd);

// ---- replies ----
Reply fail(std::string cmd, std::string error, std::string code = "bad_argument");
// A failed operation: its words, and its Failure's stable name as the code.
Reply fail(std::string cmd, const kad::Outcome& outcome);
// The same, with the fields the operation measured on its way (queries, time, ...).
Reply fail(std::string cmd, const kad::Outcome& outcome, json data);
Reply ok(std::string cmd, std::string text, json data = json::object());
// One line of a streamed result (Reply::partial).
Reply part(std::string cmd, std::string text, json data = json::object());

// The commands of bep5.cpp (gp, ap, announce, peers <info-hash>), items.cpp (bput, bget,
// mput, mget) and ls.cpp (ls).
void bep5(kad::AsioNode& node, const std::string& cmd, const Args& a, const Done& done);
void bep44(kad::AsioNode& node, const Identity& identity, const std::string& cmd, const Args& a,
           const Done& done);
void ls(const kad::Node& node, const Args& a, const Output& output, const Done& done);
// --trace (trace.cpp): each step of a lookup as a partial reply of `cmd` through `output`.
kad::Trace tracer(const std::string& cmd, const Output& output);

}  // namespace kadnode
