#pragma once
// What the kadnode commands share: parsing their arguments, building their replies, and
// formatting times, values and nodes for a person. Internal to the REPL.

#include <boost/asio/ip/udp.hpp>
#include <cstdint>
#include <functional>
#include <optional>
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
// The columns quote(s) takes at a terminal (a UTF-8 character one, an escape its length).
std::size_t quoted_width(std::string_view s);
// quote(s), or for a value that takes more than `max` columns quoted, as much of it as fits
// in `max` (whole UTF-8 characters, whole escapes) and its size: "abc"… (1000 bytes).
std::string quote_cut(std::string_view s, std::size_t max);
// A bencoded value (BEP 44) for a person: a string as quote() shows it, anything else as its
// bencoding; cut as quote_cut() cuts, past `max` columns.
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
    // Word i is an option (--x): it starts with "--" and was not quoted.
    bool option(std::size_t i) const {
        return (*this)[i].starts_with("--") && !words[i + 1].quoted;
    }
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

// The parsers: a value, or the error to show (with code "bad_argument").
kad::Expected<kad::NodeId> parse_id(const std::string& s, const char* what);
// An id that may be absent (nullptr): nullopt then.
kad::Expected<std::optional<kad::NodeId>> parse_optional_id(const std::string* s, const char* what);
kad::Expected<std::int64_t> parse_int(const std::string& s, const char* what, std::int64_t min,
                                      std::int64_t max);

// HOST:PORT split in two: the port a number from 1 to 65535 ("[v6]:port" is an address, not
// a name).
kad::Expected<std::pair<std::string, std::string>> split_host_port(const std::string& text);
// The address to use of those a name resolves to: the family of `prefer` if there is one.
kad::Endpoint pick_address(const boost::asio::ip::udp::resolver::results_type& results,
                           bool prefer_v6);

// The first error among parsed arguments, if any: a handler parses, then returns the error.
template <class... T>
std::optional<std::string> first_error(const kad::Expected<T>&... parsed) {
    std::optional<std::string> e;
    ((e || parsed.has_value() ? void() : void(e = parsed.error())), ...);
    return e;
}

// ---- replies ----
Reply fail(std::string cmd, std::string error, std::string code = "bad_argument");
// A failed operation: its words, and its Failure's stable name as the code.
Reply fail(std::string cmd, const kad::Outcome& outcome);
// The same, with the fields the operation measured on its way (queries, time, ...).
Reply fail(std::string cmd, const kad::Outcome& outcome, json data);
Reply ok(std::string cmd, std::string text, json data = json::object());
// One line of a streamed result (Reply::partial).
Reply part(std::string cmd, std::string text, json data = json::object());

// The row of `name` (lower case; a name or an alias), or nullptr.
const CommandInfo* find_command(std::string_view name);
// Names within a typing slip of `name` (edit distance 1, or 2 for longer words), or that it
// begins: for "did you mean".
std::vector<std::string_view> similar_commands(std::string_view name);
std::string usage_text(const std::string& cmd);  // "usage: ..."

// One command line being run: its words, the node, and where its replies go. A handler checks
// and parses its arguments, then calls done once, at once or when its operation completes.
struct Call {
    std::string cmd;  // the command word, lower case ("get", "lv", "exit", ...)
    Args a;
    kad::AsioNode& node;
    Shell& shell;
    const Output& output;  // its partial replies (Reply::partial)
    Done done;
    std::size_t width = 0;  // the columns of the terminal that shows the reply; 0: none

    kad::CancelSignal* cancel = nullptr;  // Ctrl-C's, if it has one

    // The usage line as the error; the error `why`. Both with code "bad_argument".
    void usage() const { done(fail(cmd, usage_text(cmd))); }
    void refuse(std::string why) const { done(fail(cmd, std::move(why))); }
};

// Runs `then` with the endpoint `text` names: at once for an address, after a DNS lookup for a
// HOST:PORT (as --bootstrap-addr does), in the command's cancel scope. An error, or Ctrl-C
// during the lookup, goes to c.done.
void with_endpoint(const Call& c, const std::string& text,
                   std::function<void(const kad::Endpoint&)> then);

// --trace (trace.cpp): each step of a lookup as a partial reply of `cmd` through `output`.
kad::Trace tracer(const std::string& cmd, const Output& output);

// ---- the handlers, one a command (the table in shell.cpp names them) ----
namespace handlers {
// shell.cpp: the shell itself.
void help(const Call& c);
void quit(const Call& c);
// info.cpp: this node.
void id(const Call& c);
void rt(const Call& c);
void stats(const Call& c);
void peers(const Call& c);  // LAN peers; with an info-hash, find_peers
void fingerprint(const Call& c);
// ls.cpp.
void ls(const Call& c);
// probes.cpp: single RPCs to one node, and a bootstrap through one.
void ping(const Call& c);
void find_node(const Call& c);
void find_value(const Call& c);
void store(const Call& c);
void bootstrap(const Call& c);
// lookups.cpp: iterative lookups, get and put.
void lookup(const Call& c);
void get(const Call& c);  // get and lv
void put(const Call& c);
void unpublish(const Call& c);
// watch.cpp.
void watch(const Call& c);
void unwatch(const Call& c);
// bep5.cpp: BEP 5 and BEP 51.
void get_peers(const Call& c);
void announce_peer(const Call& c);
void announce(const Call& c);
void find_peers(const Call& c);
void samples(const Call& c);
// items.cpp: BEP 44.
void bput(const Call& c);
void bget(const Call& c);
void mput(const Call& c);
void mget(const Call& c);
}  // namespace handlers

}  // namespace kadnode
