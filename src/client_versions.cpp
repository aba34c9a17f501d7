#include "kad/client_versions.hpp"

#include <iterator>

#include "kad/routing_table.hpp"

namespace kad {

void ClientVersions::note(const NodeId& id, std::string_view v, const RoutingTable& table) {
    if (v == own_) {
        others_.erase(id);
        return;
    }
    if (!table.contains(id)) return;  // only contacts are shown
    others_[id] = std::string(v);
    if (others_.size() > 2 * table.size() + 64) {
        std::erase_if(others_, [&](const auto& e) { return !table.contains(e.first); });
    }
}

std::string_view ClientVersions::of(const NodeId& id) const {
    auto it = others_.find(id);
    return it == others_.end() ? std::string_view(own_) : std::string_view(it->second);
}

std::string describe_client(std::string_view v) {
    if (v.empty()) return "none";
    auto printable = [](char c) { return c >= 0x20 && c < 0x7f; };
    bool all_printable = true;
    for (char c : v) all_printable = all_printable && printable(c);
    if (all_printable) return std::string(v);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(2 * v.size() + 1);
    std::size_t i = 0;
    if (v.size() >= 2 && printable(v[0]) && printable(v[1])) {
        out.push_back(v[0]);
        out.push_back(v[1]);
        out.push_back(' ');
        i = 2;
    }
    for (; i < v.size(); ++i) {
        const auto b = static_cast<unsigned char>(v[i]);
        out += kHex[b >> 4];
        out += kHex[b & 15];
    }
    return out;
}

}  // namespace kad
