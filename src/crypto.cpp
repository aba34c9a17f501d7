#include "kad/crypto.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>

namespace kad {

namespace {

// One fetched digest and one reusable context per thread and algorithm. Created on first use;
// the cost of EVP_MD_fetch (a lookup in OpenSSL's provider tables) is paid once.
class Hasher {
public:
    explicit Hasher(const char* name)
        : md_(EVP_MD_fetch(nullptr, name, nullptr)), ctx_(EVP_MD_CTX_new()) {
        if (md_ == nullptr || ctx_ == nullptr) {
            throw std::runtime_error(std::string("OpenSSL: cannot fetch digest ") + name);
        }
    }
    ~Hasher() {
        EVP_MD_CTX_free(ctx_);
        EVP_MD_free(md_);
    }
    Hasher(const Hasher&) = delete;
    Hasher& operator=(const Hasher&) = delete;

    template <std::size_t N>
    std::array<std::uint8_t, N> digest(std::string_view data) {
        std::array<std::uint8_t, N> out{};
        unsigned int len = 0;
        if (EVP_DigestInit_ex2(ctx_, md_, nullptr) != 1 ||
            EVP_DigestUpdate(ctx_, data.data(), data.size()) != 1 ||
            EVP_DigestFinal_ex(ctx_, out.data(), &len) != 1 || len != N) {
            throw std::runtime_error("OpenSSL digest failed");
        }
        return out;
    }

private:
    EVP_MD* md_;
    EVP_MD_CTX* ctx_;
};

}  // namespace

Sha1Digest sha1(std::string_view data) {
    thread_local Hasher hasher("SHA1");
    return hasher.digest<20>(data);
}

Sha256Digest sha256(std::string_view data) {
    thread_local Hasher hasher("SHA256");
    return hasher.digest<32>(data);
}

// HMAC (RFC 2104) over the reused SHA-256 context: OpenSSL's one-shot HMAC() looks the digest up
// and builds and frees its contexts on every call, which was a third of the cost of answering a
// find_value (docs/BENCHMARKS.md).
Sha256Digest hmac_sha256(std::span<const std::uint8_t> key, std::string_view data) {
    constexpr std::size_t kBlock = 64;  // SHA-256's block size
    std::array<std::uint8_t, kBlock> k{};
    if (key.size() > kBlock) {
        auto hashed = sha256({reinterpret_cast<const char*>(key.data()), key.size()});
        std::copy(hashed.begin(), hashed.end(), k.begin());
        OPENSSL_cleanse(hashed.data(), hashed.size());
    } else {
        std::copy(key.begin(), key.end(), k.begin());
    }
    thread_local std::string buf;
    // SHA-256((K ^ pad) || text)
    auto hash_padded = [&](std::uint8_t pad, std::string_view text) {
        buf.assign(kBlock, '\0');
        for (std::size_t i = 0; i < kBlock; ++i) buf[i] = static_cast<char>(k[i] ^ pad);
        buf.append(text);
        return sha256(buf);
    };
    const Sha256Digest inner = hash_padded(0x36, data);
    const Sha256Digest mac =
        hash_padded(0x5c, {reinterpret_cast<const char*>(inner.data()), inner.size()});
    // No key material left behind, as OpenSSL's HMAC() leaves none.
    OPENSSL_cleanse(buf.data(), buf.size());
    OPENSSL_cleanse(k.data(), k.size());
    return mac;
}

namespace {

struct PkeyFree {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxFree {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

Pkey private_key(const Ed25519Seed& seed) {
    Pkey key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()));
    if (!key) throw std::runtime_error("OpenSSL: cannot load an Ed25519 key");
    return key;
}

}  // namespace

Ed25519KeyPair ed25519_key_pair(const Ed25519Seed& seed) {
    Ed25519KeyPair pair;
    pair.seed = seed;
    const Pkey key = private_key(seed);
    std::size_t len = pair.public_key.size();
    if (EVP_PKEY_get_raw_public_key(key.get(), pair.public_key.data(), &len) != 1 ||
        len != pair.public_key.size()) {
        throw std::runtime_error("OpenSSL: cannot derive an Ed25519 public key");
    }
    return pair;
}

std::string ed25519_sign(const Ed25519KeyPair& key, std::string_view message) {
    const Pkey pkey = private_key(key.seed);
    const MdCtx ctx(EVP_MD_CTX_new());
    std::string sig(kEd25519SignatureSize, '\0');
    std::size_t len = sig.size();
    // Ed25519 hashes internally: no digest is named, and the message goes in one call.
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) != 1 ||
        EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                       reinterpret_cast<const unsigned char*>(message.data()),
                       message.size()) != 1 ||
        len != sig.size()) {
        throw std::runtime_error("OpenSSL: Ed25519 signing failed");
    }
    return sig;
}

bool ed25519_verify(std::string_view public_key, std::string_view message,
                    std::string_view signature) {
    if (public_key.size() != kEd25519KeySize || signature.size() != kEd25519SignatureSize) {
        return false;
    }
    const Pkey pkey(EVP_PKEY_new_raw_public_key(
        EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(public_key.data()),
        public_key.size()));
    const MdCtx ctx(EVP_MD_CTX_new());
    if (!pkey || !ctx ||
        EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) != 1) {
        return false;
    }
    return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                            signature.size(),
                            reinterpret_cast<const unsigned char*>(message.data()),
                            message.size()) == 1;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace kad
