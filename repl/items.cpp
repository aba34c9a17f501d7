// The BEP 44 commands: bput and bget (immutable items), mput and mget (mutable items, signed with
// this node's identity).

#include <algorithm>
#include <cctype>

#include "command_util.hpp"
#include "kad/bencode.hpp"
#include "kad/bep44.hpp"
#include "kad/identity.hpp"

namespace kadnode {

namespace {

std::string hex(std::string_view bytes) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (const unsigned char c : bytes) {
        out.push_back(digits[c >> 4]);
        out.push_back(digits[c & 15]);
    }
    return out;
}

// 64 hex digits to the 32 bytes of an Ed25519 public key.
kad::Expected<std::string> parse_public_key(const std::string& s) {
    const bool is_hex = s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
                            return std::isxdigit(static_cast<unsigned char>(c)) != 0;
                        });
    if (!is_hex) return kad::unexpected("bad public key '" + s + "': expected 64 hex digits");
    std::string out;
    for (std::size_t i = 0; i < s.size(); i += 2) {
        out.push_back(static_cast<char>(std::stoi(s.substr(i, 2), nullptr, 16)));
    }
    return out;
}

// A bencoded value for a program: the string, or null and the bencoding in "bencoded".
json value_json(std::string_view bencoded) {
    kad::bencode::Document doc;
    auto v = doc.decode(bencoded);
    json j = {{"bencoded", std::string(bencoded)}};
    j["value"] = v && v->is_string() ? json(std::string(v->as_string())) : json(nullptr);
    return j;
}

// The value a person typed, as BEP 44 stores it: a bencoded string.
std::string bencoded_string(std::string_view text) {
    std::string out;
    kad::bencode::append_string(out, text);
    return out;
}

json put_json(const kad::ItemPutResult& r) {
    json refusals = json::array();
    for (const auto& [n, why] : r.refusals) {
        refusals.push_back(
            {{"id", n.id.to_hex()}, {"addr", n.endpoint.to_string()}, {"error", why}});
    }
    json data = {{"target", r.target.to_hex()},
                 {"stored", r.stored},
                 {"refused", r.refused},
                 {"failed", r.failed},
                 {"stored_locally", r.stored_locally},
                 {"queries", r.queries},
                 {"ms", ms(r.elapsed)}};
    if (r.item.is_mutable()) {
        data["public_key"] = hex(r.item.public_key);
        data["salt"] = r.item.salt;
        data["seq"] = r.item.seq;
    }
    if (!refusals.empty()) data["refusals"] = refusals;
    return data;
}

std::string put_text(const kad::ItemPutResult& r) {
    std::string text =
        "on " + plural(r.stored, "node", "nodes") + ", " + std::to_string(r.refused) + " refused";
    if (r.failed) text += ", " + std::to_string(r.failed) + " did not answer";
    text += " — " + plural(r.queries, "query", "queries") + ", " + ms_text(r.elapsed);
    for (const auto& [n, why] : r.refusals) {
        text += "\n  refused by " + n.endpoint.to_string() + ": " + why;
    }
    return text;
}

Reply put_failure(const std::string& cmd, const kad::ItemPutResult& r) {
    Reply f = fail(cmd, r, put_json(r));
    if (r.stored_locally) f.error += " (kept on this node only)";
    return f;
}

}  // namespace

void handlers::bput(const Call& c) {
    if (c.a.size() < 1) return c.usage();
    const std::string value = c.a.rest(0);
    c.node.async_put_item(
        kad::bep44::make_immutable(bencoded_string(value)),
        [cmd = c.cmd, done = c.done, value](const kad::ItemPutResult& r) {
            if (!r.ok) return done(put_failure(cmd, r));
            done(ok(cmd, r.target.to_hex() + "\nstored " + quote(value) + " " + put_text(r),
                    put_json(r)));
        });
}

void handlers::mput(const Call& c) {
    const Args& a = c.a;
    std::size_t i = 0;
    std::string salt;
    if (a.size() >= 2 && a[0] == "--salt") {
        salt = a[1];
        i = 2;
    }
    if (a.size() <= i) return c.usage();
    if (salt.size() > kad::bep44::kMaxSaltSize) {
        return c.refuse("salt too large (" + std::to_string(salt.size()) + " > 64 bytes)");
    }
    auto key = c.shell.identity()();
    if (!key) return c.done(fail(c.cmd, key.error(), "no_identity"));
    const std::string value = a.rest(i);
    c.node.async_put_mutable(*key, salt, bencoded_string(value),
                             [cmd = c.cmd, done = c.done, value](const kad::ItemPutResult& r) {
                                 if (!r.ok) return done(put_failure(cmd, r));
                                 std::string text = "public key " + hex(r.item.public_key);
                                 if (!r.item.salt.empty())
                                     text += "\nsalt       " + quote(r.item.salt);
                                 text += "\ntarget     " + r.target.to_hex() + "\nstored " +
                                         quote(value) + " (seq " + std::to_string(r.item.seq) +
                                         ") " + put_text(r);
                                 done(ok(cmd, text, put_json(r)));
                             });
}

namespace {

void get_item(const Call& c, const kad::NodeId& target, std::string salt) {
    c.node.async_get_item(
        target, std::move(salt),
        [cmd = c.cmd, done = c.done, &node = c.node](const kad::ItemGetResult& r) {
            json data = {{"target", r.target.to_hex()},
                         {"hops", r.hops},
                         {"queries", r.queries},
                         {"ms", ms(r.elapsed)}};
            if (!r.ok) return done(fail(cmd, r, data));
            const kad::bep44::Item& item = *r.item;
            const json value = value_json(item.value);
            for (const auto& [k, v] : value.items()) data[k] = v;
            const bool local = r.from.id == node.id();
            data["from"] = node_json(r.from);
            data["local"] = local;
            std::string text = bencoded_text(item.value);
            if (item.is_mutable()) {
                data["seq"] = item.seq;
                data["public_key"] = hex(item.public_key);
                text += "  (seq " + std::to_string(item.seq) + ", signature checked)";
            }
            text += local ? "\nfrom this node's own store"
                          : "\nfrom " + r.from.id.short_hex() + " (" + r.from.endpoint.to_string() +
                                ")";
            text += " — " + plural(r.queries, "query", "queries") + ", " + ms_text(r.elapsed);
            done(ok(cmd, text, data));
        });
}

}  // namespace

void handlers::bget(const Call& c) {
    if (c.a.size() != 1) return c.usage();
    auto target = parse_id(c.a[0], "target");
    if (!target) return c.refuse(target.error());
    get_item(c, *target, "");
}

void handlers::mget(const Call& c) {
    const Args& a = c.a;
    if (a.size() < 1 || a.size() > 2) return c.usage();
    auto key = parse_public_key(a[0]);
    if (!key) return c.refuse(key.error());
    std::string salt = a.size() == 2 ? a[1] : "";
    const kad::NodeId target = kad::bep44::mutable_target(*key, salt);
    get_item(c, target, std::move(salt));
}

}  // namespace kadnode
