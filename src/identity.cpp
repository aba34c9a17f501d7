#include "kad/identity.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <filesystem>
#include <memory>
#include <system_error>

#include "kad/state.hpp"

namespace kad {

namespace {

struct BioFree {
    void operator()(BIO* b) const { BIO_free(b); }
};
struct PkeyFree {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using Bio = std::unique_ptr<BIO, BioFree>;
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

Expected<Ed25519KeyPair> create_identity(const std::string& path) {
    const Ed25519KeyPair made = generate_identity();
    const Pkey key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, made.seed.data(),
                                                made.seed.size()));
    const Bio mem(BIO_new(BIO_s_mem()));
    if (!key || !mem ||
        PEM_write_bio_PrivateKey(mem.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
            1) {
        return unexpected("cannot encode a new identity");
    }
    char* data = nullptr;
    const long len = BIO_get_mem_data(mem.get(), &data);
    try {
        write_file_atomically(path, std::string_view(data, static_cast<std::size_t>(len)), 0600);
    } catch (const std::system_error& e) {
        return unexpected(std::string(e.what()));
    }
    return made;
}

}  // namespace

Ed25519KeyPair generate_identity() {
    Ed25519Seed seed{};
    if (RAND_bytes(seed.data(), static_cast<int>(seed.size())) != 1) {
        throw std::runtime_error("OpenSSL: cannot draw random bytes for a new identity");
    }
    return ed25519_key_pair(seed);
}

Expected<Ed25519KeyPair> load_identity(const std::string& path) {
    const Bio file(BIO_new_file(path.c_str(), "r"));
    if (!file) return unexpected(path + ": cannot read the file");
    // No passphrase callback may prompt on a terminal: an encrypted key is refused.
    auto no_passphrase = [](char*, int, int, void*) { return -1; };
    const Pkey key(PEM_read_bio_PrivateKey(file.get(), nullptr, no_passphrase, nullptr));
    if (!key) return unexpected(path + ": not a PEM private key (or an encrypted one)");
    if (EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519) {
        return unexpected(path + ": not an Ed25519 key");
    }
    Ed25519Seed seed{};
    std::size_t len = seed.size();
    if (EVP_PKEY_get_raw_private_key(key.get(), seed.data(), &len) != 1 || len != seed.size()) {
        return unexpected(path + ": cannot read the Ed25519 key");
    }
    return ed25519_key_pair(seed);
}

Expected<Ed25519KeyPair> load_or_create_identity(const std::string& path) {
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) return load_identity(path);
    return create_identity(path);
}

std::string public_key_hex(const Ed25519KeyPair& key) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (const std::uint8_t b : key.public_key) {
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 15]);
    }
    return out;
}

}  // namespace kad
