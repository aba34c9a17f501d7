#pragma once
// BEP 44 items: arbitrary bencoded values in the DHT. An immutable item lives at the SHA-1 of its
// bencoded value; a mutable item at the SHA-1 of an Ed25519 public key and a salt, signed by that
// key over ("4:salt" len ":" salt) "3:seqi" seq "e1:v" value, so nobody without the private key
// can change it, and a higher seq replaces a lower one. Values are kept and hashed as the exact
// bytes that travelled ("v" is any bencoded type). docs/PROTOCOL.md has the messages.

#include <cstdint>
#include <string>
#include <string_view>

#include "kad/crypto.hpp"
#include "kad/node_id.hpp"

namespace kad::bep44 {

inline constexpr std::size_t kMaxValueSize = 1000;  // the bencoded "v", as BEP 44 allows
inline constexpr std::size_t kMaxSaltSize = 64;

// The bytes a mutable item's signature covers.
std::string signed_bytes(std::string_view salt, std::int64_t seq, std::string_view value);
NodeId immutable_target(std::string_view value);
NodeId mutable_target(std::string_view public_key, std::string_view salt);

// One item, as a put carries it and a get answers it.
struct Item {
    std::string value;       // bencoded
    std::string public_key;  // 32 bytes; empty for an immutable item
    std::string salt;
    std::int64_t seq = 0;
    std::string signature;  // 64 bytes; empty for an immutable item
    bool is_mutable() const noexcept { return !public_key.empty(); }
    NodeId target() const;
    friend bool operator==(const Item&, const Item&) = default;
};

Item make_immutable(std::string value);
// Signs `value` at `seq` with `key`.
Item make_mutable(const Ed25519KeyPair& key, std::string salt, std::int64_t seq, std::string value);

// Why the item cannot be believed as the one at `target` (the value is not one canonical
// bencoded value, the hash does not match, the signature is bad); empty if it can.
std::string problem(const Item& item, const NodeId& target);

// Whether `value` is exactly one canonical bencoded value.
bool is_bencoded(std::string_view value);

// The key a mutable item is kept under in kad::Storage: the public key, then the salt.
inline std::string storage_key(std::string_view public_key, std::string_view salt) {
    std::string k;
    k.reserve(public_key.size() + salt.size());
    k.append(public_key).append(salt);
    return k;
}

}  // namespace kad::bep44
