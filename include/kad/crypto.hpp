#pragma once
// The hashes and MACs kadnode needs, over OpenSSL's EVP interface. Each thread fetches a digest
// once and reuses one context, so hashing a key costs no allocation.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace kad {

using Sha1Digest = std::array<std::uint8_t, 20>;
using Sha256Digest = std::array<std::uint8_t, 32>;

Sha1Digest sha1(std::string_view data);
Sha256Digest sha256(std::string_view data);
Sha256Digest hmac_sha256(std::span<const std::uint8_t> key, std::string_view data);

// Constant-time comparison, for MACs and tokens.
bool constant_time_equal(std::string_view a, std::string_view b);

// ---- Ed25519 (RFC 8032), as BEP 44 signs mutable items ----
// Keys and signatures are raw bytes: a 32-byte seed (the private key as RFC 8032 and OpenSSL
// hold it), a 32-byte public key, a 64-byte signature.
inline constexpr std::size_t kEd25519KeySize = 32;
inline constexpr std::size_t kEd25519SignatureSize = 64;
using Ed25519Seed = std::array<std::uint8_t, kEd25519KeySize>;
using Ed25519PublicKey = std::array<std::uint8_t, kEd25519KeySize>;

struct Ed25519KeyPair {
    Ed25519Seed seed{};
    Ed25519PublicKey public_key{};
};

// The key pair of a seed (the seed comes from a random source the caller owns).
Ed25519KeyPair ed25519_key_pair(const Ed25519Seed& seed);
// The 64-byte signature of `message`.
std::string ed25519_sign(const Ed25519KeyPair& key, std::string_view message);
// Whether `signature` is a valid signature of `message` by `public_key` (raw 32 bytes). False for
// a key or signature of the wrong size, or a key that is not a curve point.
bool ed25519_verify(std::string_view public_key, std::string_view message,
                    std::string_view signature);

}  // namespace kad
