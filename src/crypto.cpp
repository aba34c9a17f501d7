#include "kad/crypto.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdexcept>

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

Sha256Digest hmac_sha256(std::span<const std::uint8_t> key, std::string_view data) {
    Sha256Digest out{};
    unsigned int len = 0;
    if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
             reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(),
             &len) == nullptr ||
        len != out.size()) {
        throw std::runtime_error("OpenSSL HMAC failed");
    }
    return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace kad
