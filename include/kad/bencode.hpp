#pragma once
// Strict bencode (BEP 3), as KRPC uses it.
//
// decode() accepts only the canonical encoding: no leading zeros, no "-0", dictionary keys that
// are strings in strictly ascending byte order, nothing after the value. Nesting depth and the
// number of elements are bounded. It never throws and never reads outside the input; on failure
// it says why and at which byte.
//
// A decoded Document is a flat array of nodes pointing into the input (no copies): the input must
// outlive it. Value is an owning tree for building messages in tests and tools; encode() of a
// Value is canonical, so decode-then-encode reproduces any input decode() accepts.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "kad/expected.hpp"

namespace kad::bencode {

enum class Type : std::uint8_t { Integer, String, List, Dict };

struct Limits {
    int max_depth = 16;               // nested lists/dicts; KRPC needs 3
    std::size_t max_elements = 1024;  // values of any kind in one document
};

enum class Errc : std::uint8_t {
    Truncated,        // input ended inside a value
    TrailingBytes,    // bytes after the top-level value
    LeadingZero,      // "i03e" or "03:abc"
    NegativeZero,     // "i-0e"
    BadInteger,       // "ie", "i-e", "i1x"
    IntegerOverflow,  // beyond 64-bit signed
    StringPastEnd,    // a string's length runs past the input
    UnsortedKeys,     // dictionary keys not in ascending byte order
    DuplicateKey,     // the same key twice in one dictionary
    KeyNotString,     // a dictionary key that is not a string
    TooDeep,          // nesting beyond Limits::max_depth
    TooManyElements,  // more values than Limits::max_elements
    UnexpectedByte,   // a byte that starts no value
};

const char* to_string(Errc e) noexcept;

struct DecodeError {
    Errc code;
    std::size_t offset;  // where the problem was found
    std::string message() const;
};

class Document;

// A read-only view of one value inside a Document. Cheap to copy.
class View {
public:
    View() = default;            // refers to nothing; only assign to it
    Type type() const noexcept;  // inline, below: the accessors are a decoder's inner loop
    bool is_int() const noexcept { return type() == Type::Integer; }
    bool is_string() const noexcept { return type() == Type::String; }
    bool is_list() const noexcept { return type() == Type::List; }
    bool is_dict() const noexcept { return type() == Type::Dict; }

    std::int64_t as_int() const noexcept;         // 0 unless an integer
    std::string_view as_string() const noexcept;  // empty unless a string
    std::size_t size() const noexcept;            // elements of a list, pairs of a dict
    // The value's bytes exactly as they were in the input ("12:Hello World!", "i4e", "l...e"):
    // BEP 44 hashes and signs values in this form.
    std::string_view raw() const noexcept;

    // The i-th element of a list (i < size()).
    View at(std::size_t i) const noexcept;
    // Where the value is in its document (0 is the root), and the value at such a place in the
    // same document: a table of values can keep 4-byte places instead of 16-byte Views.
    std::uint32_t node_index() const noexcept { return index_; }
    View node_at(std::uint32_t index) const noexcept { return View(doc_, index); }
    // A dictionary's value for a key; found is false if absent or not a dict.
    bool find(std::string_view key, View& out) const noexcept;
    // find() of many keys in one walk over a dictionary, merging its sorted keys with `count`
    // keys given in strictly ascending byte order (key_at(i) is the i-th): f(i, value) for each
    // one present, in order. Nothing if not a dict. The result is that of count find()s.
    template <class KeyAt, class F>
    void find_sorted(std::size_t count, KeyAt&& key_at, F&& f) const;

    // Visit a dictionary's pairs in order: f(std::string_view key, View value).
    template <class F>
    void for_each_pair(F&& f) const;
    // Visit a list's elements in order: f(View value).
    template <class F>
    void for_each(F&& f) const;

private:
    friend class Document;
    View(const Document* doc, std::uint32_t index) : doc_(doc), index_(index) {}
    std::uint32_t next_sibling() const noexcept;
    const Document* doc_ = nullptr;
    std::uint32_t index_ = 0;
};

// Byte order of two strings (as unsigned bytes; a prefix first): negative, zero or positive.
// Dictionary keys are short; this compares them inline where std::string_view calls memcmp.
constexpr int compare_bytes(std::string_view a, std::string_view b) noexcept {
    const std::size_t n = a.size() < b.size() ? a.size() : b.size();
    if (n == 0) return a.size() == b.size() ? 0 : (a.size() < b.size() ? -1 : 1);
    // Most pairs of keys differ at their first byte: no loop for them.
    const auto a0 = static_cast<unsigned char>(a[0]);
    const auto b0 = static_cast<unsigned char>(b[0]);
    if (a0 != b0) return a0 < b0 ? -1 : 1;
    for (std::size_t i = 1; i < n; ++i) {
        const auto x = static_cast<unsigned char>(a[i]);
        const auto y = static_cast<unsigned char>(b[i]);
        if (x != y) return x < y ? -1 : 1;
    }
    return a.size() == b.size() ? 0 : (a.size() < b.size() ? -1 : 1);
}

class Document {
public:
    // Decode `input` into this document (reusing its storage). On success root() is valid.
    // On failure the document is empty.
    Expected<View, DecodeError> decode(std::string_view input, const Limits& limits = {});
    View root() const noexcept { return View(this, 0); }
    std::size_t element_count() const noexcept { return count_; }

private:
    friend class View;
    struct Node {
        Type type;
        std::uint32_t end;    // index one past this node's subtree
        std::uint32_t count;  // list elements, or dict pairs
        std::int64_t integer;
        std::string_view text;
    };
    class Parser;
    // Grown by the parser as it needs (doubling, from 64), never shrunk: a reused document
    // holds what its largest parse needed. Its size is the room; count_ the nodes in use.
    std::vector<Node> nodes_;
    std::uint32_t count_ = 0;  // nodes of the decoded document
};

// ---- Owning values --------------------------------------------------------------------------

class Value;
using List = std::vector<Value>;
using Dict = std::map<std::string, Value, std::less<>>;

class Value {
public:
    Value() : v_(std::int64_t{0}) {}
    Value(std::int64_t i) : v_(i) {}
    Value(int i) : v_(std::int64_t{i}) {}
    Value(std::string s) : v_(std::move(s)) {}
    Value(std::string_view s) : v_(std::string(s)) {}
    Value(const char* s) : v_(std::string(s)) {}
    Value(List l) : v_(std::move(l)) {}
    Value(Dict d) : v_(std::move(d)) {}

    Type type() const noexcept { return static_cast<Type>(v_.index()); }
    std::int64_t as_int() const { return std::get<std::int64_t>(v_); }
    const std::string& as_string() const { return std::get<std::string>(v_); }
    const List& as_list() const { return std::get<List>(v_); }
    List& as_list() { return std::get<List>(v_); }
    const Dict& as_dict() const { return std::get<Dict>(v_); }
    Dict& as_dict() { return std::get<Dict>(v_); }

    friend bool operator==(const Value&, const Value&) = default;

private:
    std::variant<std::int64_t, std::string, List, Dict> v_;
};

Value to_value(View v);
Expected<Value, DecodeError> decode_value(std::string_view input, const Limits& limits = {});
std::string encode(const Value& v);
void encode_to(std::string& out, const Value& v);

// Low-level canonical writers, for encoders that emit fixed key sets in sorted order.
void append_int(std::string& out, std::int64_t i);
void append_string(std::string& out, std::string_view s);

// ---- inline ---------------------------------------------------------------------------------

inline Type View::type() const noexcept {
    return doc_->nodes_[index_].type;
}

inline std::int64_t View::as_int() const noexcept {
    const auto& n = doc_->nodes_[index_];
    return n.type == Type::Integer ? n.integer : 0;
}

inline std::string_view View::as_string() const noexcept {
    const auto& n = doc_->nodes_[index_];
    return n.type == Type::String ? n.text : std::string_view{};
}

inline std::size_t View::size() const noexcept {
    return doc_->nodes_[index_].count;
}

inline std::uint32_t View::next_sibling() const noexcept {
    return doc_->nodes_[index_].end;
}

inline View View::at(std::size_t i) const noexcept {
    std::uint32_t idx = index_ + 1;
    for (std::size_t n = 0; n < i; ++n) idx = doc_->nodes_[idx].end;
    return View(doc_, idx);
}

template <class KeyAt, class F>
void View::find_sorted(std::size_t count, KeyAt&& key_at, F&& f) const {
    if (!is_dict() || count == 0) return;
    std::size_t want = 0;  // the first wanted key not yet found or passed
    std::uint32_t i = index_ + 1;
    const std::uint32_t end = doc_->nodes_[index_].end;
    while (i < end) {
        const auto& key = doc_->nodes_[i];
        const std::uint32_t value = key.end;
        int order = compare_bytes(std::string_view(key_at(want)), key.text);
        while (order < 0) {  // wanted key absent: the dictionary is past it
            if (++want == count) return;
            order = compare_bytes(std::string_view(key_at(want)), key.text);
        }
        if (order == 0) {
            f(want, View(doc_, value));
            if (++want == count) return;
        }
        i = doc_->nodes_[value].end;
    }
}

template <class F>
void View::for_each_pair(F&& f) const {
    if (!is_dict()) return;
    std::uint32_t i = index_ + 1;
    const std::uint32_t end = doc_->nodes_[index_].end;
    while (i < end) {
        View key(doc_, i);
        View val(doc_, key.next_sibling());
        f(key.as_string(), val);
        i = val.next_sibling();
    }
}

template <class F>
void View::for_each(F&& f) const {
    if (!is_list()) return;
    std::uint32_t i = index_ + 1;
    const std::uint32_t end = doc_->nodes_[index_].end;
    while (i < end) {
        View item(doc_, i);
        f(item);
        i = item.next_sibling();
    }
}

}  // namespace kad::bencode
