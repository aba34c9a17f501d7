#include "kad/endpoint.hpp"

#include <algorithm>

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace kad {

Endpoint Endpoint::v4(const std::array<std::uint8_t, 4>& addr, std::uint16_t port) {
    Endpoint e;
    std::memcpy(e.addr_.data(), addr.data(), 4);
    e.port_ = port;
    return e;
}

Endpoint Endpoint::v6(const std::array<std::uint8_t, 16>& addr, std::uint16_t port) {
    Endpoint e;
    e.addr_ = addr;
    e.port_ = port;
    e.v6_ = true;
    return e;
}

Expected<Endpoint> Endpoint::from_address(std::string_view ip_with_scope, std::uint16_t port) {
    // A numeric zone ("fe80::1%2") names the interface of a link-local IPv6 address.
    std::string_view ip = ip_with_scope;
    std::uint32_t scope = 0;
    if (const auto pct = ip.find('%'); pct != std::string_view::npos) {
        const std::string_view zone = ip.substr(pct + 1);
        auto [end, ec] = std::from_chars(zone.data(), zone.data() + zone.size(), scope);
        if (zone.empty() || ec != std::errc() || end != zone.data() + zone.size() || scope == 0) {
            return unexpected("'" + std::string(ip_with_scope) +
                              "': the zone after % must be an interface number");
        }
        ip = ip.substr(0, pct);
    }
    // inet_pton wants a NUL-terminated string; an address is short.
    if (ip.size() > INET6_ADDRSTRLEN) return unexpected("'" + std::string(ip) + "' is too long");
    // inet_pton would stop at an embedded NUL and accept what comes before it.
    if (ip.find('\0') != std::string_view::npos) {
        return unexpected("'" + std::string(ip) + "' is not an IPv4 or IPv6 address");
    }
    char buf[INET6_ADDRSTRLEN + 1];
    std::memcpy(buf, ip.data(), ip.size());
    buf[ip.size()] = '\0';
    std::array<std::uint8_t, 16> a{};
    if (inet_pton(AF_INET, buf, a.data()) == 1) {
        return v4({a[0], a[1], a[2], a[3]}, port);
    }
    if (inet_pton(AF_INET6, buf, a.data()) == 1) {
        Endpoint e = v6(a, port);
        if (scope && !e.is_link_local()) {
            return unexpected("'" + std::string(ip_with_scope) +
                              "': a zone is for link-local (fe80::) addresses");
        }
        return e.with_scope(scope);
    }
    if (scope) return unexpected("'" + std::string(ip_with_scope) + "' is not an IPv6 address");
    return unexpected("'" + std::string(ip) + "' is not an IPv4 or IPv6 address");
}

Expected<Endpoint> Endpoint::parse(std::string_view text) {
    std::string_view host;
    std::string_view port_text;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos) {
            return unexpected("'" + std::string(text) + "': missing ']' after the IPv6 address");
        }
        host = text.substr(1, close - 1);
        if (close + 1 >= text.size() || text[close + 1] != ':') {
            return unexpected("'" + std::string(text) + "': expected [IPv6]:PORT");
        }
        port_text = text.substr(close + 2);
        if (host.find(':') == std::string_view::npos) {
            return unexpected("'" + std::string(text) + "': brackets are for IPv6 addresses");
        }
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            return unexpected("'" + std::string(text) + "': expected IP:PORT or [IPv6]:PORT");
        }
        host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) {
            return unexpected("'" + std::string(text) +
                              "': write an IPv6 address in brackets, as [IPv6]:PORT");
        }
    }
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
        port > 65535) {
        return unexpected("'" + std::string(text) + "': the port must be a number from 0 to 65535");
    }
    auto ep = from_address(host, static_cast<std::uint16_t>(port));
    if (!ep) return unexpected("'" + std::string(text) + "': " + ep.error());
    if (text.front() == '[' && ep->is_v4()) {
        return unexpected("'" + std::string(text) + "': brackets are for IPv6 addresses");
    }
    return ep;
}

std::optional<Endpoint> Endpoint::from_compact(std::string_view raw) {
    std::optional<Endpoint> e(std::in_place);
    if (!e->assign_compact(raw)) return std::nullopt;
    return e;
}

void Endpoint::append_compact(std::string& out) const {
    char buf[18];  // an IPv6 address and the port, in one append
    const std::string_view a = address_raw();
    std::memcpy(buf, a.data(), a.size());
    buf[a.size()] = static_cast<char>(port_ >> 8);
    buf[a.size() + 1] = static_cast<char>(port_ & 0xff);
    out.append(buf, a.size() + 2);
}

std::string Endpoint::compact() const {
    std::string s;
    append_compact(s);
    return s;
}

std::string Endpoint::address_string() const {
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(v6_ ? AF_INET6 : AF_INET, addr_.data(), buf, sizeof buf);
    return buf;
}

std::string Endpoint::to_string() const {
    if (v6_) {
        const std::string zone = scope_ ? "%" + std::to_string(scope_) : std::string();
        return "[" + address_string() + zone + "]:" + std::to_string(port_);
    }
    return address_string() + ":" + std::to_string(port_);
}

Endpoint Endpoint::normalized() const noexcept {
    static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (v6_ && std::memcmp(addr_.data(), kMapped, 12) == 0) {
        return v4({addr_[12], addr_[13], addr_[14], addr_[15]}, port_);
    }
    return *this;
}

bool Endpoint::is_unspecified() const noexcept {
    const std::size_t n = v6_ ? 16 : 4;
    for (std::size_t i = 0; i < n; ++i) {
        if (addr_[i] != 0) return false;
    }
    return true;
}

bool Endpoint::is_loopback() const noexcept {
    if (!v6_) return addr_[0] == 127;
    for (int i = 0; i < 15; ++i) {
        if (addr_[i] != 0) return false;
    }
    return addr_[15] == 1;
}

bool Endpoint::is_multicast() const noexcept {
    return v6_ ? addr_[0] == 0xff : (addr_[0] & 0xf0) == 0xe0;
}

bool Endpoint::is_broadcast() const noexcept {
    return !v6_ && addr_[0] == 255 && addr_[1] == 255 && addr_[2] == 255 && addr_[3] == 255;
}

bool Endpoint::is_link_local() const noexcept {
    if (v6_) return addr_[0] == 0xfe && (addr_[1] & 0xc0) == 0x80;
    return addr_[0] == 169 && addr_[1] == 254;
}

bool Endpoint::is_private() const noexcept {
    if (v6_) return (addr_[0] & 0xfe) == 0xfc || (addr_[0] == 0xfe && (addr_[1] & 0xc0) == 0x80);
    return addr_[0] == 10 || (addr_[0] == 172 && (addr_[1] & 0xf0) == 16) ||
           (addr_[0] == 192 && addr_[1] == 168) || (addr_[0] == 169 && addr_[1] == 254);
}

Endpoint source_key(const Endpoint& from) {
    if (from.is_loopback()) return from;
    if (from.is_v4()) return from.with_port(0);
    std::array<std::uint8_t, 16> prefix{};
    std::copy_n(from.address_bytes().begin(), 8, prefix.begin());
    return Endpoint::v6(prefix, 0);
}

}  // namespace kad

std::size_t std::hash<kad::Endpoint>::operator()(const kad::Endpoint& e) const noexcept {
    // FNV-1a over the address and port.
    std::uint64_t h = 1469598103934665603ULL;
    for (std::uint8_t b : e.address_raw()) h = (h ^ b) * 1099511628211ULL;
    h = (h ^ e.port()) * 1099511628211ULL;
    h = (h ^ e.scope_id()) * 1099511628211ULL;
    return static_cast<std::size_t>(h ^ (e.is_v6() ? 0x9e3779b9ULL : 0));
}
