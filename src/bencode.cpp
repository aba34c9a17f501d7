#include "kad/bencode.hpp"

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

class Document::Parser {
public:
    Parser(std::string_view in, const Limits& limits, std::vector<Node>& nodes)
        : in_(in), limits_(limits), nodes_(nodes) {}

    bool run() {
        if (!value(0)) return false;
        if (pos_ != in_.size()) return fail(Errc::TrailingBytes, pos_);
        return true;
    }
    DecodeError error() const { return error_; }

private:
    bool fail(Errc code, std::size_t at) {
        error_ = {code, at};
        return false;
    }

    bool at_end() const { return pos_ >= in_.size(); }

    // Digits of a non-negative decimal number up to `terminator`, canonical form only.
    bool number(char terminator, std::uint64_t max, std::uint64_t& out) {
        const std::size_t start = pos_;
        std::uint64_t v = 0;
        while (!at_end() && in_[pos_] >= '0' && in_[pos_] <= '9') {
            const std::uint64_t d = static_cast<std::uint64_t>(in_[pos_] - '0');
            if (v > (max - d) / 10) return fail(Errc::IntegerOverflow, start);
            v = v * 10 + d;
            ++pos_;
        }
        if (at_end()) return fail(Errc::Truncated, pos_);
        if (pos_ == start) return fail(Errc::BadInteger, pos_);
        if (in_[pos_] != terminator) {
            return fail(terminator == ':' ? Errc::UnexpectedByte : Errc::BadInteger, pos_);
        }
        if (in_[start] == '0' && pos_ - start > 1) return fail(Errc::LeadingZero, start);
        ++pos_;  // the terminator
        out = v;
        return true;
    }

    bool push(Type type, std::size_t at) {
        if (nodes_.size() >= limits_.max_elements) return fail(Errc::TooManyElements, at);
        nodes_.push_back(Node{type, 0, 0, 0, {}});
        return true;
    }

    bool integer() {
        const std::size_t start = pos_;
        ++pos_;  // 'i'
        bool negative = false;
        if (!at_end() && in_[pos_] == '-') {
            negative = true;
            ++pos_;
        }
        const std::uint64_t max =
            negative ? std::uint64_t{1} << 63
                     : static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
        const std::size_t digits = pos_;
        std::uint64_t v = 0;
        if (!number('e', max, v)) return false;
        if (negative && v == 0 && in_[digits] == '0') return fail(Errc::NegativeZero, start);
        if (!push(Type::Integer, start)) return false;
        auto& n = nodes_.back();
        n.integer = negative ? static_cast<std::int64_t>(~v + 1) : static_cast<std::int64_t>(v);
        n.text = in_.substr(start, pos_ - start);  // the raw form, for View::raw()
        n.end = static_cast<std::uint32_t>(nodes_.size());
        return true;
    }

    bool string() {
        const std::size_t start = pos_;
        std::uint64_t len = 0;
        if (!number(':', std::numeric_limits<std::uint32_t>::max(), len)) {
            if (error_.code == Errc::IntegerOverflow) error_.code = Errc::StringPastEnd;
            return false;
        }
        if (len > in_.size() - pos_) return fail(Errc::StringPastEnd, start);
        if (!push(Type::String, start)) return false;
        auto& n = nodes_.back();
        n.text = in_.substr(pos_, len);
        n.end = static_cast<std::uint32_t>(nodes_.size());
        pos_ += len;
        return true;
    }

    bool container(Type type, int depth) {
        const std::size_t start = pos_;
        if (depth + 1 > limits_.max_depth) return fail(Errc::TooDeep, start);
        if (!push(type, start)) return false;
        const std::size_t self = nodes_.size() - 1;
        ++pos_;  // 'l' or 'd'
        std::uint32_t count = 0;
        std::string_view previous_key;
        for (;;) {
            if (at_end()) return fail(Errc::Truncated, pos_);
            if (in_[pos_] == 'e') {
                ++pos_;
                break;
            }
            if (type == Type::Dict && !key(count, previous_key)) return false;
            if (!value(depth + 1)) return false;
            ++count;
        }
        nodes_[self].count = count;
        nodes_[self].text = in_.substr(start, pos_ - start);  // the raw form, for View::raw()
        nodes_[self].end = static_cast<std::uint32_t>(nodes_.size());
        return true;
    }

    // A dictionary's key: a string, after the one before in byte order, and a value after it.
    bool key(std::uint32_t index, std::string_view& previous) {
        const std::size_t key_at = pos_;
        if (in_[pos_] < '0' || in_[pos_] > '9') return fail(Errc::KeyNotString, key_at);
        if (!string()) return false;
        const std::string_view k = nodes_.back().text;
        if (index > 0) {
            if (k == previous) return fail(Errc::DuplicateKey, key_at);
            if (k < previous) return fail(Errc::UnsortedKeys, key_at);
        }
        previous = k;
        if (at_end()) return fail(Errc::Truncated, pos_);
        return true;
    }

    bool value(int depth) {
        if (at_end()) return fail(Errc::Truncated, pos_);
        const char c = in_[pos_];
        if (c == 'i') return integer();
        if (c >= '0' && c <= '9') return string();
        if (c == 'l') return container(Type::List, depth);
        if (c == 'd') return container(Type::Dict, depth);
        return fail(Errc::UnexpectedByte, pos_);
    }

    std::string_view in_;
    const Limits& limits_;
    std::vector<Node>& nodes_;
    std::size_t pos_ = 0;
    DecodeError error_{Errc::Truncated, 0};
};

Expected<View, DecodeError> Document::decode(std::string_view input, const Limits& limits) {
    nodes_.clear();
    Parser p(input, limits, nodes_);
    if (!p.run()) {
        nodes_.clear();
        return Unexpected<DecodeError>{p.error()};
    }
    return root();
}

// ---- View -----------------------------------------------------------------------------------

Type View::type() const noexcept {
    return doc_->nodes_[index_].type;
}

std::int64_t View::as_int() const noexcept {
    return is_int() ? doc_->nodes_[index_].integer : 0;
}

std::string_view View::as_string() const noexcept {
    return is_string() ? doc_->nodes_[index_].text : std::string_view{};
}

std::string_view View::raw() const noexcept {
    const auto& n = doc_->nodes_[index_];
    if (n.type != Type::String) return n.text;
    // A string's node holds its contents; its length prefix ("12:") sits just before them.
    std::size_t digits = 1;
    for (std::size_t len = n.text.size(); len >= 10; len /= 10) ++digits;
    return {n.text.data() - digits - 1, n.text.size() + digits + 1};
}

std::size_t View::size() const noexcept {
    return doc_->nodes_[index_].count;
}

std::uint32_t View::next_sibling() const noexcept {
    return doc_->nodes_[index_].end;
}

View View::at(std::size_t i) const noexcept {
    std::uint32_t idx = index_ + 1;
    for (std::size_t n = 0; n < i; ++n) idx = View(doc_, idx).next_sibling();
    return View(doc_, idx);
}

bool View::find(std::string_view key, View& out) const noexcept {
    if (!is_dict()) return false;
    std::uint32_t i = index_ + 1;
    const std::uint32_t end = doc_->nodes_[index_].end;
    while (i < end) {
        View k(doc_, i);
        View v(doc_, k.next_sibling());
        const std::string_view name = k.as_string();
        if (name == key) {
            out = v;
            return true;
        }
        if (name > key) return false;  // keys are sorted
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

void append_int(std::string& out, std::int64_t i) {
    out.push_back('i');
    out.append(std::to_string(i));
    out.push_back('e');
}

void append_string(std::string& out, std::string_view s) {
    out.append(std::to_string(s.size()));
    out.push_back(':');
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
