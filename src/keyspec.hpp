#pragma once
// Table-driven validation of bencoded dictionaries, shared by the KRPC and discovery decoders:
// say once which keys a message needs and of what type (one KeySpec row per key); verify()
// applies a table and names the first key that breaks it. A table's rows are in the byte order
// of their keys (static_assert(sorted(table)) beside each), so that verify() finds all of them
// in one walk over the dictionary's sorted keys. Internal to the library.

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
    bool any_type = false;  // a value of any type (BEP 44's "v"): `type` is not checked
};

// A row for a key whose value may be of any type.
constexpr KeySpec any_value(std::string_view key, Need need) {
    return KeySpec{key, Type::String, need, Len::Any, 0, true};
}

// Whether a table's keys are in strictly ascending byte order, as verify() needs.
template <std::size_t N>
constexpr bool sorted(const std::array<KeySpec, N>& spec) {
    for (std::size_t i = 1; i < N; ++i) {
        if (bencode::compare_bytes(spec[i - 1].key, spec[i].key) >= 0) return false;
    }
    return true;
}

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

inline bool length_ok(const KeySpec& s, std::size_t len) {
    return s.len == Len::Any || (s.len == Len::Exact && len == s.n) ||
           (s.len == Len::MultipleOf && len % s.n == 0) || (s.len == Len::AtMost && len <= s.n);
}

// Whether a dictionary's value for a row (`present` or not) is as the row wants.
inline bool row_ok(const KeySpec& s, bool present, View v) {
    if (!present) return s.need == Need::Optional;
    if (s.any_type) return true;
    if (v.type() != s.type) return false;
    return s.type != Type::String || length_ok(s, v.as_string().size());
}

// Why a value breaks its row (row_ok() is false).
inline std::string row_problem(const KeySpec& s, bool present, View v, std::string_view where) {
    const std::string key = "'" + std::string(s.key) + "'" + std::string(where);
    if (!present) return "missing " + key;
    if (v.type() != s.type) return key + " must be " + type_name(s.type);
    const char* rule = s.len == Len::Exact        ? " must be exactly "
                       : s.len == Len::MultipleOf ? " must be a multiple of "
                                                  : " must be at most ";
    return key + rule + std::to_string(s.n) + " bytes long";
}

// Checks `dict` against `spec` (sorted). On failure returns the reason, naming the key and where
// it is: that of the first row, in table order, that the dictionary breaks.
template <std::size_t N>
std::string verify(View dict, std::string_view where, const std::array<KeySpec, N>& spec,
                   Found<N>& out) {
    // One walk finds every row's key; the checks then go row by row, as a find() a row would.
    dict.find_sorted(
        N, [&](std::size_t i) { return spec[i].key; },
        [&](std::size_t i, View v) {
            out.views[i] = v;
            out.present[i] = true;
        });
    for (std::size_t i = 0; i < N; ++i) {
        if (!row_ok(spec[i], out.present[i], out.views[i])) {
            std::string why = row_problem(spec[i], out.present[i], out.views[i], where);
            // As if the rows had been looked up one by one up to this one: none from here on.
            for (std::size_t j = i; j < N; ++j) {
                out.views[j] = View();
                out.present[j] = false;
            }
            return why;
        }
    }
    return {};
}

}  // namespace kad::detail
