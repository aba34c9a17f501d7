#pragma once
// A UDP endpoint: an IPv4 or IPv6 address and a port. A plain value type of our own, so that the
// core does not depend on a socket library; the runtime converts to and from Boost.Asio's.

#include <algorithm>
#include <array>
#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "kad/big_endian.hpp"
#include "kad/expected.hpp"

namespace kad {

class Endpoint {
public:
    static constexpr std::size_t kCompactV4 = 6;   // 4-byte address + 2-byte port
    static constexpr std::size_t kCompactV6 = 18;  // 16-byte address + 2-byte port

    Endpoint() = default;  // 0.0.0.0:0
    static Endpoint v4(const std::array<std::uint8_t, 4>& addr, std::uint16_t port);
    static Endpoint v6(const std::array<std::uint8_t, 16>& addr, std::uint16_t port);

    // "a.b.c.d:port" or "[v6]:port". The error says what is wrong.
    static Expected<Endpoint> parse(std::string_view text);
    // A bare IPv4 or IPv6 address (no brackets) and a port.
    static Expected<Endpoint> from_address(std::string_view ip, std::uint16_t port);
    // 6 bytes (IPv4) or 18 bytes (IPv6), network byte order; any other length is nullopt.
    static std::optional<Endpoint> from_compact(std::string_view raw);
    // from_compact() into this endpoint, for a decoder filling a vector in place (an Endpoint
    // returned is written in parts and then read whole, which stalls the CPU's store
    // forwarding). False, and this endpoint unchanged, for any other length.
    bool assign_compact(std::string_view raw) noexcept {
        const auto* p = reinterpret_cast<const std::uint8_t*>(raw.data());
        if (raw.size() == kCompactV4) {
            addr_ = {p[0], p[1], p[2], p[3]};
            v6_ = false;
        } else if (raw.size() == kCompactV6) {
            std::copy(p, p + 16, addr_.begin());
            v6_ = true;
        } else {
            return false;
        }
        port_ = static_cast<std::uint16_t>(p[raw.size() - 2] << 8 | p[raw.size() - 1]);
        scope_ = 0;
        return true;
    }

    // The interface index of an IPv6 link-local address (fe80::/10), which is only meaningful
    // with it; 0 otherwise. Printed as [fe80::1%2]:port; not part of the compact form.
    std::uint32_t scope_id() const noexcept { return scope_; }
    Endpoint with_scope(std::uint32_t scope) const noexcept {
        Endpoint e = *this;
        e.scope_ = v6_ ? scope : 0;
        return e;
    }
    bool is_link_local() const noexcept;  // 169.254/16 or fe80::/10
    Endpoint with_port(std::uint16_t port) const noexcept {
        Endpoint e = *this;
        e.port_ = port;
        return e;
    }

    bool is_v4() const noexcept { return !v6_; }
    bool is_v6() const noexcept { return v6_; }
    std::uint16_t port() const noexcept { return port_; }
    // 4 or 16 meaningful bytes.
    const std::array<std::uint8_t, 16>& address_bytes() const noexcept { return addr_; }
    std::string_view address_raw() const noexcept {
        return {reinterpret_cast<const char*>(addr_.data()), v6_ ? 16u : 4u};
    }

    std::string compact() const;
    void append_compact(std::string& out) const;
    std::string address_string() const;
    std::string to_string() const;  // "1.2.3.4:5" or "[::1]:5"

    // An IPv4-mapped IPv6 address (::ffff:a.b.c.d), as a dual-stack socket reports IPv4 peers,
    // becomes the IPv4 endpoint; anything else is returned unchanged.
    Endpoint normalized() const noexcept;

    bool is_unspecified() const noexcept;  // 0.0.0.0 or ::
    bool is_loopback() const noexcept;     // 127/8 or ::1
    bool is_multicast() const noexcept;    // 224/4 or ff00::/8
    bool is_broadcast() const noexcept;    // 255.255.255.255
    bool is_private()
        const noexcept;  // 10/8, 172.16/12, 192.168/16, 169.254/16, fc00::/7, fe80::/10
    // True for addresses a peer can never legitimately send from or be reached at, including
    // an IPv6 link-local address without the interface it belongs to.
    bool is_unusable() const noexcept {
        return port_ == 0 || is_unspecified() || is_multicast() || is_broadcast() ||
               (v6_ && scope_ == 0 && is_link_local());
    }

    // Member by member, as the defaulted ones were, but the address as two words: the defaulted
    // ones call memcmp, and the routing table's endpoint index and the simulator compare
    // endpoints on every datagram.
    friend bool operator==(const Endpoint& a, const Endpoint& b) noexcept {
        return load_be64(a.addr_.data()) == load_be64(b.addr_.data()) &&
               load_be64(a.addr_.data() + 8) == load_be64(b.addr_.data() + 8) &&
               a.port_ == b.port_ && a.v6_ == b.v6_ && a.scope_ == b.scope_;
    }
    friend std::strong_ordering operator<=>(const Endpoint& a, const Endpoint& b) noexcept {
        for (std::size_t off : {0u, 8u}) {
            const std::uint64_t x = load_be64(a.addr_.data() + off);
            const std::uint64_t y = load_be64(b.addr_.data() + off);
            if (x != y) return x <=> y;
        }
        if (a.port_ != b.port_) return a.port_ <=> b.port_;
        if (a.v6_ != b.v6_) return a.v6_ <=> b.v6_;
        return a.scope_ <=> b.scope_;
    }

private:
    std::array<std::uint8_t, 16> addr_{};
    std::uint16_t port_ = 0;
    bool v6_ = false;
    std::uint32_t scope_ = 0;
};

// The unit one party is counted as, for rate limits and storage quotas: an IPv4 address, an IPv6
// /64 (one subscriber's usual allocation), or on loopback the address and port (local nodes are
// told apart by port; nobody outside can spoof loopback). Port 0 except on loopback.
Endpoint source_key(const Endpoint& from);

}  // namespace kad

template <>
struct std::hash<kad::Endpoint> {
    std::size_t operator()(const kad::Endpoint& e) const noexcept;
};
