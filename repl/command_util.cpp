#include "command_util.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "kad/bencode.hpp"

namespace kadnode {

// ---- formatting ---------------------------------------------------------------------------------

std::string fixed(double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

double ms(kad::Duration d) {
    return std::round(kad::to_ms(d) * 1000.0) / 1000.0;
}

std::string ms_text(kad::Duration d) {
    const double v = kad::to_ms(d);
    return fixed(v, v < 10 ? 2 : (v < 100 ? 1 : 0)) + " ms";
}

std::string span_text(kad::Duration d) {
    auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
    if (s < 0) s = 0;
    if (s < 60) return std::to_string(s) + "s";
    if (s < 3600) return std::to_string(s / 60) + "m" + std::to_string(s % 60) + "s";
    if (s < 86400) return std::to_string(s / 3600) + "h" + std::to_string(s / 60 % 60) + "m";
    return std::to_string(s / 86400) + "d" + std::to_string(s / 3600 % 24) + "h";
}

std::string quote(std::string_view s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    return out + "\"";
}

namespace {

// The columns a byte of s takes once quoted: 1, 2 for an escape (\n, \"), 4 for \xNN, 0 for
// a UTF-8 continuation byte (its character took its column at its first byte).
std::size_t columns(unsigned char c) {
    if (c == '"' || c == '\\' || c == '\n' || c == '\t') return 2;
    if (c < 0x20 || c == 0x7f) return 4;
    if ((c & 0xc0) == 0x80) return 0;
    return 1;
}

// The bytes of s that fit in `max` columns once quoted, never half a UTF-8 character; npos if
// all of s does.
std::size_t cut_at(std::string_view s, std::size_t max) {
    std::size_t used = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        used += columns(c);
        if (used > max) {
            std::size_t n = i;
            while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xc0) == 0x80) --n;
            return n;
        }
    }
    return std::string_view::npos;
}

std::string size_note(std::string_view s) {
    return "… (" + std::to_string(s.size()) + " bytes)";
}

}  // namespace

std::size_t quoted_width(std::string_view s) {
    std::size_t n = 2;
    for (unsigned char c : s) n += columns(c);
    return n;
}

std::string quote_cut(std::string_view s, std::size_t max) {
    const std::size_t n = cut_at(s, max);
    if (n == std::string_view::npos) return quote(s);
    return quote(s.substr(0, n)) + size_note(s);
}

std::string bencoded_text(std::string_view bencoded, std::size_t max) {
    kad::bencode::Document doc;
    auto v = doc.decode(bencoded);
    if (v && v->is_string()) return quote_cut(v->as_string(), max);
    const std::size_t n = cut_at(bencoded, max);
    if (n == std::string_view::npos) return std::string(bencoded);
    return std::string(bencoded.substr(0, n)) + size_note(bencoded);
}

json node_json(const kad::krpc::NodeInfo& n) {
    return {{"id", n.id.to_hex()}, {"addr", n.endpoint.to_string()}};
}

std::string node_line(const kad::krpc::NodeInfo& n) {
    return "  " + n.id.to_hex() + "  " + n.endpoint.to_string();
}

std::string plural(std::size_t n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
}

// ---- argument parsing ---------------------------------------------------------------------------

bool is_hex_id(std::string_view s) {
    return s.size() == 40 && std::all_of(s.begin(), s.end(), [](char c) {
               return std::isxdigit(static_cast<unsigned char>(c)) != 0;
           });
}

kad::Expected<kad::NodeId> parse_id(const std::string& s, const char* what) {
    auto id = kad::NodeId::from_hex(s);
    if (!id) return kad::unexpected(std::string("bad ") + what + " '" + s + "': " + id.error());
    return *id;
}

kad::Expected<std::optional<kad::NodeId>> parse_optional_id(const std::string* s,
                                                            const char* what) {
    if (!s) return std::optional<kad::NodeId>();
    auto id = parse_id(*s, what);
    if (!id) return kad::unexpected(id.error());
    return std::optional<kad::NodeId>(*id);
}

kad::Expected<std::int64_t> parse_int(const std::string& s, const char* what, std::int64_t min,
                                      std::int64_t max) {
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || v < min || v > max) {
        return kad::unexpected(std::string("bad ") + what + " '" + s +
                               "': expected a whole number from " + std::to_string(min) + " to " +
                               std::to_string(max));
    }
    return v;
}

kad::Expected<std::pair<std::string, std::string>> split_host_port(const std::string& text) {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0 || text.front() == '[') {
        return kad::unexpected("bad address '" + text + "': expected HOST:PORT");
    }
    std::string port = text.substr(colon + 1);
    if (auto p = parse_int(port, "port", 1, 65535); !p) {
        return kad::unexpected("bad address '" + text + "': the port is a number from 1 to 65535");
    }
    return std::pair{text.substr(0, colon), std::move(port)};
}

kad::Endpoint pick_address(const boost::asio::ip::udp::resolver::results_type& results,
                           bool prefer_v6) {
    for (const auto& r : results) {
        if (r.endpoint().address().is_v6() == prefer_v6) return kad::from_asio(r.endpoint());
    }
    return kad::from_asio(results.begin()->endpoint());
}

void with_endpoint(const Call& c, const std::string& text,
                   std::function<void(const kad::Endpoint&)> then) {
    if (auto ep = kad::Endpoint::parse(text)) {
        if (ep->port() == 0) return c.refuse("bad address '" + text + "': port 0");
        return then(*ep);
    }
    auto hp = split_host_port(text);
    if (!hp) return c.refuse(hp.error());
    // A mistyped address is no name to look up (nor sent to a DNS server).
    const std::string& host = hp->first;
    const bool numeric = host.find_first_not_of("0123456789.") == std::string::npos;
    if (numeric || host.find(':') != std::string::npos || host.front() == '[') {
        return c.refuse("bad address '" + text + "': not an IP address");
    }
    using boost::asio::ip::udp;
    auto resolver = std::make_shared<udp::resolver>(c.node.get_executor());
    if (c.cancel)
        c.cancel->on_emit([weak = std::weak_ptr<udp::resolver>(resolver)] {
            if (auto r = weak.lock()) r->cancel();
        });
    // A node on an IPv6 socket reaches IPv6 addresses (and IPv4 too where dual-stack).
    const bool v6 = c.node.local_endpoint().is_v6();
    // The signal may go before the lookup ends (a control client that disconnects): held
    // weakly. An emit() after the lookup ended, its handler queued, still cancels.
    std::weak_ptr<const bool> alive;
    std::uint64_t emitted = 0;
    if (c.cancel) {
        alive = c.cancel->alive();
        emitted = c.cancel->emitted();
    }
    resolver->async_resolve(
        hp->first, hp->second, udp::resolver::numeric_service,
        [resolver, host = hp->first, v6, then = std::move(then), cmd = c.cmd, done = c.done,
         &node = c.node, cancel = c.cancel, alive,
         emitted](const boost::system::error_code& ec, const udp::resolver::results_type& results) {
            const bool signalled = cancel && (alive.expired() || cancel->emitted() != emitted);
            if (ec == boost::asio::error::operation_aborted || signalled) {
                return done(fail(cmd, "cancelled", "cancelled"));
            }
            if (ec || results.empty()) {
                return done(fail(cmd,
                                 "cannot resolve " + host + ": " +
                                     (ec ? ec.message() : std::string("no address")),
                                 "unreachable"));
            }
            // What the command starts now, Ctrl-C still cancels.
            std::optional<kad::AsioNode::CancelScope> scope;
            if (cancel) scope.emplace(node, *cancel);
            then(pick_address(results, v6));
        });
}

const CommandInfo* find_command(std::string_view name) {
    for (const auto& c : commands()) {
        if (c.name == name) return &c;
        for (const auto alias : c.aliases) {
            if (alias == name) return &c;
        }
    }
    return nullptr;
}

namespace {

// Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
// neighbours ("gte" is one from "get").
std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
    for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
    for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
            }
        }
    }
    return d[a.size()][b.size()];
}

}  // namespace

std::vector<std::string_view> similar_commands(std::string_view name) {
    std::vector<std::string_view> out;
    if (name.empty()) return out;
    const std::size_t slack = name.size() <= 3 ? 1 : 2;
    for (const auto& c : commands()) {
        if (edit_distance(name, c.name) <= slack || c.name.starts_with(name)) {
            out.push_back(c.name);
        }
    }
    return out;
}

std::string usage_text(const std::string& cmd) {
    const CommandInfo* info = find_command(cmd);
    return "usage: " + std::string(info ? info->usage : cmd);
}

// ---- replies ------------------------------------------------------------------------------------

Reply fail(std::string cmd, std::string error, std::string code) {
    Reply r;
    r.cmd = std::move(cmd);
    r.error = std::move(error);
    r.code = std::move(code);
    return r;
}

// A failed operation: its words, and its Failure's stable name as the code.
Reply fail(std::string cmd, const kad::Outcome& outcome) {
    return fail(std::move(cmd), outcome.error, std::string(kad::to_string(outcome.code)));
}

Reply fail(std::string cmd, const kad::Outcome& outcome, json data) {
    Reply r = fail(std::move(cmd), outcome);
    r.data = std::move(data);
    return r;
}

Reply ok(std::string cmd, std::string text, json data) {
    Reply r;
    r.cmd = std::move(cmd);
    r.ok = true;
    r.text = std::move(text);
    r.data = std::move(data);
    return r;
}

Reply part(std::string cmd, std::string text, json data) {
    Reply r = ok(std::move(cmd), std::move(text), std::move(data));
    r.partial = true;
    return r;
}

}  // namespace kadnode
