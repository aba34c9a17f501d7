#pragma once
// A node's Ed25519 identity: the key that signs its BEP 44 mutable items, so that nobody else can
// change them. It is kept in a PEM file (PKCS#8, what `openssl genpkey -algorithm ed25519`
// writes), readable only by its owner. Part of the runtime, not of the sans-I/O core: it reads
// files and OpenSSL's random generator.

#include <string>

#include "kad/crypto.hpp"
#include "kad/expected.hpp"

namespace kad {

// A new identity from OpenSSL's random generator.
Ed25519KeyPair generate_identity();
// The identity in `path`. The error names the file and what is wrong with it.
Expected<Ed25519KeyPair> load_identity(const std::string& path);
// The identity in `path`, made there (mode 0600, written atomically) if there is no such file.
Expected<Ed25519KeyPair> load_or_create_identity(const std::string& path);
// The identity's public key as 64 hex digits: how a user names it (mget).
std::string public_key_hex(const Ed25519KeyPair& key);

}  // namespace kad
