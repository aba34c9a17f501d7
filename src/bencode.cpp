#include "kad/bencode.hpp"

#include <algorithm>
#include <charconv>
#include <limits>

namespace kad::bencode {

const char* to_string(Errc e) noexcept {
    switch (e) {
        case Errc::Truncated:
            return "truncated";
        case Errc::TrailingBytes:
            return "trailing bytes after the value";
        case Errc::LeadingZero:
            return "leading zero in a number";
        case Errc::NegativeZero:
            return "negative zero";
        case Errc::BadInteger:
            return "malformed integer";
        case Errc::IntegerOverflow:
            return "integer out of range";
        case Errc::StringPastEnd:
            return "string length runs past the end of the input";
        case Errc::UnsortedKeys:
            return "dictionary keys not sorted";
        case Errc::DuplicateKey:
            return "duplicate dictionary key";
        case Errc::KeyNotString:
            return "dictionary key is not a string";
        case Errc::TooDeep:
            return "nesting too deep";
        case Errc::TooManyElements:
            return "too many elements";
        case Errc::UnexpectedByte:
            return "unexpected byte";
    }
    return "unknown error";
}

std::string DecodeError::message() const {
    return std::string(to_string(code)) + " at byte " + std::to_string(offset);
}

// ---- Parser ---------------------------------------------------------------------------------
// Recursive descent over [begin_, end_) into nodes_, which Document::decode sized so that no
// store can go past it. Each check and its error (code and offset) are those of the first
// failure in reading order; tests/test_bencode.cpp pins them.

namespace {

constexpr bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// Digits that cannot overflow any bound number() is given (2^32 - 1 or more): 999,999,999.
constexpr std::ptrdiff_t kSafeDigits = 9;

}  // namespace

class Document::Parser {
public:
    Parser(std::string_view in, const Limits& limits, std::vector<Node>& nodes)
        : begin_(in.data()),
          end_(in.data() + in.size()),
          p_(begin_),
          max_elements_(limits.max_elements),
          max_depth_(limits.max_depth),
          vec_(nodes),
          nodes_(nodes.data()),
          capacity_(nodes.size()) {}

    bool run() {
        if (!value(0)) return false;
        if (p_ != end_) return fail(Errc::TrailingBytes, p_);
        return true;
    }
    DecodeError error() const { return error_; }
    std::uint32_t count() const { return count_; }

private:
    bool fail(Errc code, const char* at) {
        error_ = {code, static_cast<std::size_t>(at - begin_)};
        return false;
    }

    // Digits of a non-negative decimal number up to `terminator`, canonical form only.
    bool number(char terminator, std::uint64_t max, std::uint64_t& out) {
        const char* const start = p_;
        const char* p = start;
        std::uint64_t v = 0;
        const char* const safe_end = end_ - p > kSafeDigits ? p + kSafeDigits : end_;
        while (p != safe_end && is_digit(*p)) {
            v = v * 10 + static_cast<std::uint64_t>(*p - '0');
            ++p;
        }
        if (p == safe_end) {  // perhaps more digits: from here each one may overflow
            while (p != end_ && is_digit(*p)) {
                const auto d = static_cast<std::uint64_t>(*p - '0');
                if (v > (max - d) / 10) return fail(Errc::IntegerOverflow, start);
                v = v * 10 + d;
                ++p;
            }
        }
        if (p == end_) return fail(Errc::Truncated, p);
        if (p == start) return fail(Errc::BadInteger, p);
        if (*p != terminator) {
            return fail(terminator == ':' ? Errc::UnexpectedByte : Errc::BadInteger, p);
        }
        if (*start == '0' && p - start > 1) return fail(Errc::LeadingZero, start);
        p_ = p + 1;  // past the terminator
        out = v;
        return true;
    }

    // The next node, or nullptr (and the error) past Limits::max_elements.
    [[gnu::always_inline]] Node* push(Type type, const char* at) {
        if (count_ >= max_elements_) {
            fail(Errc::TooManyElements, at);
            return nullptr;
        }
        if (count_ == capacity_) [[unlikely]]
            grow();
        Node* n = &nodes_[count_++];
        n->type = type;
        n->count = 0;
        n->integer = 0;
        return n;
    }

    [[gnu::always_inline]] bool integer() {
        const char* const start = p_;
        ++p_;  // 'i'
        bool negative = false;
        if (p_ != end_ && *p_ == '-') {
            negative = true;
            ++p_;
        }
        const std::uint64_t max =
            negative ? std::uint64_t{1} << 63
                     : static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
        const char* const digits = p_;
        std::uint64_t v = 0;
        if (!number('e', max, v)) return false;
        if (negative && v == 0 && *digits == '0') return fail(Errc::NegativeZero, start);
        Node* n = push(Type::Integer, start);
        if (n == nullptr) return false;
        n->integer = negative ? static_cast<std::int64_t>(~v + 1) : static_cast<std::int64_t>(v);
        n->text = {start, static_cast<std::size_t>(p_ - start)};  // the raw form, for View::raw()
        n->end = count_;
        return true;
    }

    // A string (p_ is on its first digit); its node's text is its contents.
    [[gnu::always_inline]] Node* string() {
        const char* const start = p_;
        std::uint64_t len = 0;
        // Most strings are shorter than 100 bytes: one or two digits (no leading zero), ':'.
        const std::ptrdiff_t left = end_ - start;
        if (left >= 2 && start[1] == ':') {
            len = static_cast<std::uint64_t>(start[0] - '0');
            p_ = start + 2;
        } else if (left >= 3 && start[2] == ':' && start[0] != '0' && is_digit(start[1])) {
            len = static_cast<std::uint64_t>(start[0] - '0') * 10 +
                  static_cast<std::uint64_t>(start[1] - '0');
            p_ = start + 3;
        } else if (!number(':', std::numeric_limits<std::uint32_t>::max(), len)) {
            if (error_.code == Errc::IntegerOverflow) error_.code = Errc::StringPastEnd;
            return nullptr;
        }
        if (len > static_cast<std::uint64_t>(end_ - p_)) {
            fail(Errc::StringPastEnd, start);
            return nullptr;
        }
        Node* n = push(Type::String, start);
        if (n == nullptr) return nullptr;
        n->text = {p_, static_cast<std::size_t>(len)};
        n->end = count_;
        p_ += len;
        return n;
    }

    bool container(Type type, int depth) {
        const char* const start = p_;
        if (depth + 1 > max_depth_) return fail(Errc::TooDeep, start);
        if (push(type, start) == nullptr) return false;
        const std::uint32_t self = count_ - 1;
        ++p_;  // 'l' or 'd'
        std::uint32_t count = 0;
        std::string_view previous_key;
        for (;;) {
            if (p_ == end_) return fail(Errc::Truncated, p_);
            if (*p_ == 'e') {
                ++p_;
                break;
            }
            if (type == Type::Dict && !key(count, previous_key)) return false;
            if (!value(depth + 1)) return false;
            ++count;
        }
        Node& n = nodes_[self];
        n.count = count;
        n.text = {start, static_cast<std::size_t>(p_ - start)};  // the raw form, for View::raw()
        n.end = count_;
        return true;
    }

    // A dictionary's key: a string, after the one before in byte order, and a value after it.
    [[gnu::always_inline]] bool key(std::uint32_t index, std::string_view& previous) {
        const char* const key_at = p_;
        if (!is_digit(*p_)) return fail(Errc::KeyNotString, key_at);
        const Node* n = string();
        if (n == nullptr) return false;
        const std::string_view k = n->text;
        if (index > 0) {
            const int order = compare_bytes(k, previous);
            if (order == 0) return fail(Errc::DuplicateKey, key_at);
            if (order < 0) return fail(Errc::UnsortedKeys, key_at);
        }
        previous = k;
        if (p_ == end_) return fail(Errc::Truncated, p_);
        return true;
    }

    [[gnu::always_inline]] bool value(int depth) {
        if (p_ == end_) return fail(Errc::Truncated, p_);
        const char c = *p_;
        if (is_digit(c)) return string() != nullptr;
        if (c == 'i') return integer();
        if (c == 'd') return container(Type::Dict, depth);
        if (c == 'l') return container(Type::List, depth);
        return fail(Errc::UnexpectedByte, p_);
    }

    // More room, as a vector grows (a document is reused: it keeps what its largest parse
    // needed, not what the largest input could have needed). Nodes are referred to by index
    // across a push, never by pointer, so they may move.
    [[gnu::noinline]] void grow() {
        vec_.resize(std::min(max_elements_, std::max<std::size_t>(64, 2 * capacity_)));
        nodes_ = vec_.data();
        capacity_ = vec_.size();
    }

    const char* const begin_;
    const char* const end_;
    const char* p_;
    const std::size_t max_elements_;
    const int max_depth_;
    std::vector<Node>& vec_;
    Node* nodes_;
    std::size_t capacity_;
    std::uint32_t count_ = 0;
    DecodeError error_{Errc::Truncated, 0};
};

Expected<View, DecodeError> Document::decode(std::string_view input, const Limits& limits) {
    count_ = 0;
    Parser p(input, limits, nodes_);
    if (!p.run()) return Unexpected<DecodeError>{p.error()};
    count_ = p.count();
    return root();
}

// ---- View -----------------------------------------------------------------------------------

std::string_view View::raw() const noexcept {
    const auto& n = doc_->nodes_[index_];
    if (n.type != Type::String) return n.text;
    // A string's node holds its contents; its length prefix ("12:") sits just before them.
    std::size_t digits = 1;
    for (std::size_t len = n.text.size(); len >= 10; len /= 10) ++digits;
    return {n.text.data() - digits - 1, n.text.size() + digits + 1};
}

bool View::find(std::string_view key, View& out) const noexcept {
    if (!is_dict()) return false;
    std::uint32_t i = index_ + 1;
    const std::uint32_t end = doc_->nodes_[index_].end;
    while (i < end) {
        View k(doc_, i);
        View v(doc_, k.next_sibling());
        const int order = compare_bytes(k.as_string(), key);
        if (order == 0) {
            out = v;
            return true;
        }
        if (order > 0) return false;  // keys are sorted
        i = v.next_sibling();
    }
    return false;
}

// ---- Owning values --------------------------------------------------------------------------

Value to_value(View v) {
    switch (v.type()) {
        case Type::Integer:
            return Value(v.as_int());
        case Type::String:
            return Value(v.as_string());
        case Type::List: {
            List l;
            l.reserve(v.size());
            v.for_each([&](View item) { l.push_back(to_value(item)); });
            return Value(std::move(l));
        }
        case Type::Dict: {
            Dict d;
            v.for_each_pair(
                [&](std::string_view k, View item) { d.emplace(std::string(k), to_value(item)); });
            return Value(std::move(d));
        }
    }
    return Value();
}

Expected<Value, DecodeError> decode_value(std::string_view input, const Limits& limits) {
    Document doc;
    auto root = doc.decode(input, limits);
    if (!root) return Unexpected<DecodeError>{root.error()};
    return to_value(*root);
}

// Each writes its prefix through a small buffer, with one append: the encoders call these for
// every key and value of every datagram sent.
void append_int(std::string& out, std::int64_t i) {
    char buf[24];  // 'i', up to 20 characters, 'e'
    buf[0] = 'i';
    char* end = std::to_chars(buf + 1, buf + sizeof buf - 1, i).ptr;
    *end++ = 'e';
    out.append(buf, end);
}

void append_string(std::string& out, std::string_view s) {
    char buf[24];  // up to 20 digits, ':'
    char* end = std::to_chars(buf, buf + sizeof buf - 1, s.size()).ptr;
    *end++ = ':';
    out.append(buf, end);
    out.append(s);
}

void encode_to(std::string& out, const Value& v) {
    switch (v.type()) {
        case Type::Integer:
            append_int(out, v.as_int());
            break;
        case Type::String:
            append_string(out, v.as_string());
            break;
        case Type::List:
            out.push_back('l');
            for (const auto& item : v.as_list()) encode_to(out, item);
            out.push_back('e');
            break;
        case Type::Dict:
            out.push_back('d');
            for (const auto& [k, item] : v.as_dict()) {  // std::map: sorted by bytes
                append_string(out, k);
                encode_to(out, item);
            }
            out.push_back('e');
            break;
    }
}

std::string encode(const Value& v) {
    std::string out;
    encode_to(out, v);
    return out;
}

}  // namespace kad::bencode
