#pragma once
// Table-driven validation of bencoded dictionaries, shared by the KRPC and discovery decoders:
// say once which keys a message needs and of what type (one KeySpec row per key); verify()
// applies a table and names the first key that breaks it. Internal to the library.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "kad/bencode.hpp"

namespace kad::detail {

using bencode::Type;
using bencode::View;

enum class Need : std::uint8_t { Required, Optional };
enum class Len : std::uint8_t { Any, Exact, MultipleOf, AtMost };

struct KeySpec {
    std::string_view key;
    Type type;
    Need need;
    Len len = Len::Any;
    std::size_t n = 0;
};

inline const char* type_name(Type t) {
    switch (t) {
        case Type::Integer:
            return "an integer";
        case Type::String:
            return "a string";
        case Type::List:
            return "a list";
        case Type::Dict:
            return "a dictionary";
    }
    return "?";
}

template <std::size_t N>
struct Found {
    std::array<View, N> views{};
    std::array<bool, N> present{};
    const View& operator[](std::size_t i) const { return views[i]; }
    bool has(std::size_t i) const { return present[i]; }
};

// Why a string breaks its spec's length rule; empty if it does not.
inline std::string length_problem(const KeySpec& s, View v, std::string_view where) {
    const std::size_t len = v.as_string().size();
    const bool ok = s.len == Len::Any || (s.len == Len::Exact && len == s.n) ||
                    (s.len == Len::MultipleOf && len % s.n == 0) ||
                    (s.len == Len::AtMost && len <= s.n);
    if (ok) return {};
    const char* rule = s.len == Len::Exact        ? " must be exactly "
                       : s.len == Len::MultipleOf ? " must be a multiple of "
                                                  : " must be at most ";
    return "'" + std::string(s.key) + "'" + std::string(where) + rule + std::to_string(s.n) +
           " bytes long";
}

// Checks `dict` against `spec`. On failure returns the reason, naming the key and where it is.
template <std::size_t N>
std::string verify(View dict, std::string_view where, const std::array<KeySpec, N>& spec,
                   Found<N>& out) {
    for (std::size_t i = 0; i < N; ++i) {
        const KeySpec& s = spec[i];
        View v = dict;
        if (!dict.find(s.key, v)) {
            if (s.need == Need::Required) {
                return "missing '" + std::string(s.key) + "'" + std::string(where);
            }
            continue;
        }
        if (v.type() != s.type) {
            return "'" + std::string(s.key) + "'" + std::string(where) + " must be " +
                   type_name(s.type);
        }
        if (s.type == Type::String) {
            if (auto why = length_problem(s, v, where); !why.empty()) return why;
        }
        out.views[i] = v;
        out.present[i] = true;
    }
    return {};
}

}  // namespace kad::detail
