#include "kad/bep44.hpp"

#include "kad/bencode.hpp"

namespace kad::bep44 {

std::string signed_bytes(std::string_view salt, std::int64_t seq, std::string_view value) {
    std::string out;
    out.reserve(salt.size() + value.size() + 40);
    // An empty salt is as if there were none (BEP 44).
    if (!salt.empty()) {
        bencode::append_string(out, "salt");
        bencode::append_string(out, salt);
    }
    bencode::append_string(out, "seq");
    bencode::append_int(out, seq);
    bencode::append_string(out, "v");
    out.append(value);
    return out;
}

NodeId immutable_target(std::string_view value) {
    return NodeId::from_key(value);
}

NodeId mutable_target(std::string_view public_key, std::string_view salt) {
    return NodeId::from_key(storage_key(public_key, salt));
}

NodeId Item::target() const {
    return is_mutable() ? mutable_target(public_key, salt) : immutable_target(value);
}

Item make_immutable(std::string value) {
    Item item;
    item.value = std::move(value);
    return item;
}

Item make_mutable(const Ed25519KeyPair& key, std::string salt, std::int64_t seq,
                  std::string value) {
    Item item;
    item.public_key.assign(key.public_key.begin(), key.public_key.end());
    item.signature = ed25519_sign(key, signed_bytes(salt, seq, value));
    item.salt = std::move(salt);
    item.seq = seq;
    item.value = std::move(value);
    return item;
}

bool is_bencoded(std::string_view value) {
    bencode::Document doc;
    return doc.decode(value).has_value();
}

std::string problem(const Item& item, const NodeId& target) {
    if (item.value.size() > kMaxValueSize) return "value too large";
    if (!is_bencoded(item.value)) return "the value is not bencoded";
    if (item.target() != target) {
        return item.is_mutable() ? "the key and salt do not hash to the target"
                                 : "the value does not hash to the target";
    }
    if (item.is_mutable()) {
        if (item.salt.size() > kMaxSaltSize) return "salt too large";
        if (item.seq < 0) return "negative seq";
        if (!ed25519_verify(item.public_key, signed_bytes(item.salt, item.seq, item.value),
                            item.signature)) {
            return "invalid signature";
        }
    }
    return {};
}

}  // namespace kad::bep44
