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

// The values a table's rows found in a dictionary, as places in its document (small, so that
// making one per dictionary costs little): 0, the root's place, is never a dictionary's value.
template <std::size_t N>
struct Found {
    View dict;                             // where the rows were looked up
    std::array<std::uint32_t, N> index{};  // each row's value, or 0 if absent
    View operator[](std::size_t i) const { return index[i] != 0 ? dict.node_at(index[i]) : View(); }
    bool has(std::size_t i) const { return index[i] != 0; }
    void set(std::size_t i, View v) { index[i] = v.node_index(); }  // v: in dict's document
    void clear(std::size_t i) { index[i] = 0; }
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

// Looks up every row's key in one walk over the dictionary (which find_rows needs sorted, as
// static_assert(sorted(table)) makes sure); check_rows() then checks them.
template <std::size_t N>
void find_rows(View dict, const std::array<KeySpec, N>& spec, Found<N>& out) {
    out.dict = dict;
    dict.find_sorted(
        N, [&](std::size_t i) { return spec[i].key; },
        [&](std::size_t i, View v) { out.set(i, v); });
}

// Checks the rows `rows` of `spec` (indices, in the order to check them) against what
// find_rows() found. On failure returns the reason, naming the key and where it is: that of the
// first of these rows the dictionary breaks, which is then taken out of `out` with every row
// after it (as if the rows had been looked up one by one and the lookups had stopped there).
template <std::size_t N, std::size_t M>
std::string check_rows(std::string_view where, const std::array<KeySpec, N>& spec,
                       const std::array<std::size_t, M>& rows, Found<N>& out) {
    for (std::size_t r = 0; r < M; ++r) {
        const std::size_t i = rows[r];
        if (row_ok(spec[i], out.has(i), out[i])) continue;
        std::string why = row_problem(spec[i], out.has(i), out[i], where);
        for (std::size_t later = r; later < M; ++later) out.clear(rows[later]);
        return why;
    }
    return {};
}

template <std::size_t N>
constexpr std::array<std::size_t, N> all_rows() {
    std::array<std::size_t, N> rows{};
    for (std::size_t i = 0; i < N; ++i) rows[i] = i;
    return rows;
}

// Checks `dict` against every row of `spec`, in table order: find_rows() then check_rows().
template <std::size_t N>
std::string verify(View dict, std::string_view where, const std::array<KeySpec, N>& spec,
                   Found<N>& out) {
    find_rows(dict, spec, out);
    return check_rows(where, spec, all_rows<N>(), out);
}

}  // namespace kad::detail
