#include "control_protocol.hpp"

#include <array>
#include <cstdint>

namespace kadnode::control {

bool valid_utf8(std::string_view s) {
    std::size_t i = 0;
    const std::size_t n = s.size();
    while (i < n) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t len = 0;
        std::uint32_t cp = 0;
        if ((c & 0xe0) == 0xc0) {
            len = 2;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + len > n) return false;
        for (std::size_t k = 1; k < len; ++k) {
            const auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (cc & 0x3f);
        }
        // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
        static constexpr std::array<std::uint32_t, 5> kMin = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += len;
    }
    return true;
}

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int sextet(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        const std::uint32_t v =
            static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16 |
            static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8 |
            static_cast<unsigned char>(bytes[i + 2]);
        out += kAlphabet[v >> 18 & 63];
        out += kAlphabet[v >> 12 & 63];
        out += kAlphabet[v >> 6 & 63];
        out += kAlphabet[v & 63];
    }
    const std::size_t left = bytes.size() - i;
    if (left > 0) {
        std::uint32_t v = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
        if (left == 2)
            v |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
        out += kAlphabet[v >> 18 & 63];
        out += kAlphabet[v >> 12 & 63];
        out += left == 2 ? kAlphabet[v >> 6 & 63] : '=';
        out += '=';
    }
    return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
    if (text.size() % 4 != 0) return std::nullopt;
    std::string out;
    out.reserve(text.size() / 4 * 3);
    for (std::size_t i = 0; i < text.size(); i += 4) {
        const bool last = i + 4 == text.size();
        int pad = 0;
        if (last && text[i + 3] == '=') pad = text[i + 2] == '=' ? 2 : 1;
        std::uint32_t v = 0;
        for (std::size_t k = 0; k < 4; ++k) {
            int s = 0;
            if (k < 4 - static_cast<std::size_t>(pad)) {
                s = sextet(text[i + k]);
                if (s < 0) return std::nullopt;
            }
            v = v << 6 | static_cast<std::uint32_t>(s);
        }
        out += static_cast<char>(v >> 16 & 0xff);
        if (pad < 2) out += static_cast<char>(v >> 8 & 0xff);
        if (pad < 1) out += static_cast<char>(v & 0xff);
    }
    return out;
}

void put_bytes(json& j, const std::string& name, std::string_view bytes) {
    if (valid_utf8(bytes)) {
        j[name] = std::string(bytes);
    } else {
        j[name + "_b64"] = base64_encode(bytes);
    }
}

std::optional<std::string> get_bytes(const json& j, const std::string& name) {
    if (auto it = j.find(name); it != j.end()) {
        if (!it->is_string()) return std::nullopt;
        return it->get<std::string>();
    }
    if (auto it = j.find(name + "_b64"); it != j.end()) {
        if (!it->is_string()) return std::nullopt;
        return base64_decode(it->get<std::string>());
    }
    return std::nullopt;
}

std::string encode_request(const Request& r) {
    json j = json::object();
    if (r.kind == Request::Kind::Events) {
        j["events"] = true;
    } else if (r.kind == Request::Kind::Cancel) {
        j["cancel"] = true;
    } else {
        put_bytes(j, "line", r.line);
        if (r.width > 0) j["width"] = r.width;
    }
    return dump(j) + "\n";
}

namespace {

kad::Expected<json> parse_object(std::string_view line) {
    json j = json::parse(line.begin(), line.end(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) return kad::unexpected("not a JSON object");
    return j;
}

}  // namespace

kad::Expected<Request> parse_request(std::string_view line) {
    auto j = parse_object(line);
    if (!j) return kad::unexpected(j.error());
    Request r;
    if (auto it = j->find("events"); it != j->end()) {
        if (!it->is_boolean() || !it->get<bool>()) {
            return kad::unexpected("\"events\" must be true");
        }
        r.kind = Request::Kind::Events;
        return r;
    }
    if (auto it = j->find("cancel"); it != j->end()) {
        if (!it->is_boolean() || !it->get<bool>()) {
            return kad::unexpected("\"cancel\" must be true");
        }
        r.kind = Request::Kind::Cancel;
        return r;
    }
    if (!j->contains("line") && !j->contains("line_b64")) {
        return kad::unexpected("neither \"line\" nor \"events\" nor \"cancel\"");
    }
    auto text = get_bytes(*j, "line");
    if (!text) return kad::unexpected("\"line\" must be a string (\"line_b64\": base64)");
    r.line = std::move(*text);
    if (auto it = j->find("width"); it != j->end()) {
        if (!it->is_number_unsigned() || it->get<std::uint64_t>() > 10000) {
            return kad::unexpected("\"width\" must be a number of columns, at most 10000");
        }
        r.width = it->get<std::size_t>();
    }
    return r;
}

std::string encode_reply(const Reply& r) {
    json j = {{"type", r.partial ? "partial" : "reply"}, {"cmd", r.cmd}};
    if (!r.partial) {
        j["ok"] = r.ok;
        if (!r.ok) {
            j["error"] = r.error;
            j["code"] = r.code;
        }
        if (r.quit) j["quit"] = true;
        if (r.blank) j["blank"] = true;
    }
    put_bytes(j, "text", r.text);
    j["data"] = r.data;
    return dump(j) + "\n";
}

std::string encode_event(const std::string& name, const json& fields, std::string_view text) {
    json j = {{"type", "event"}, {"event", name}};
    put_bytes(j, "text", text);
    j["data"] = fields;
    return dump(j) + "\n";
}

std::string encode_hello(const json& fields) {
    json j = {{"type", "hello"}};
    j["data"] = fields;
    return dump(j) + "\n";
}

std::string encode_error(const std::string& code, const std::string& error) {
    return dump(json{{"type", "error"}, {"code", code}, {"error", error}}) + "\n";
}

namespace {

std::string string_field(const json& j, const char* name) {
    auto it = j.find(name);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool bool_field(const json& j, const char* name) {
    auto it = j.find(name);
    return it != j.end() && it->is_boolean() && it->get<bool>();
}

json object_field(const json& j, const char* name) {
    auto it = j.find(name);
    return it != j.end() && it->is_object() ? *it : json::object();
}

}  // namespace

kad::Expected<Frame> parse_frame(std::string_view line) {
    auto j = parse_object(line);
    if (!j) return kad::unexpected(j.error());
    const std::string type = string_field(*j, "type");
    Frame f;
    if (type == "hello") {
        f.type = Frame::Type::Hello;
        f.data = object_field(*j, "data");
    } else if (type == "partial" || type == "reply") {
        f.type = type == "partial" ? Frame::Type::Partial : Frame::Type::Reply;
        Reply& r = f.reply;
        r.partial = f.type == Frame::Type::Partial;
        r.cmd = string_field(*j, "cmd");
        r.ok = bool_field(*j, "ok");
        r.error = string_field(*j, "error");
        r.code = string_field(*j, "code");
        r.quit = bool_field(*j, "quit");
        r.blank = bool_field(*j, "blank");
        r.text = get_bytes(*j, "text").value_or("");
        r.data = object_field(*j, "data");
    } else if (type == "event") {
        f.type = Frame::Type::Event;
        f.event = string_field(*j, "event");
        f.text = get_bytes(*j, "text").value_or("");
        f.data = object_field(*j, "data");
    } else if (type == "error") {
        f.type = Frame::Type::Error;
        f.code = string_field(*j, "code");
        f.error = string_field(*j, "error");
    } else {
        return kad::unexpected("a frame of unknown type '" + type + "'");
    }
    return f;
}

std::string render_event(const Frame& f, bool as_json) {
    if (!as_json) return f.text;
    json j = {{"event", f.event}};
    for (auto it = f.data.begin(); it != f.data.end(); ++it) j[it.key()] = it.value();
    return dump(j);
}

bool LineSplitter::feed(std::string_view bytes) {
    if (overflow_) return false;
    if (start_ > 0 && start_ * 2 >= buf_.size()) {
        buf_.erase(0, start_);
        scan_ -= start_;
        line_start_ -= start_;
        start_ = 0;
    }
    buf_.append(bytes);
    // Every line, complete or not, must fit.
    for (; scan_ < buf_.size(); ++scan_) {
        if (buf_[scan_] != '\n') continue;
        if (scan_ - line_start_ > max_) overflow_ = true;
        line_start_ = scan_ + 1;
    }
    if (buf_.size() - line_start_ > max_) overflow_ = true;
    return !overflow_;
}

std::optional<std::string> LineSplitter::next() {
    if (overflow_ || start_ >= line_start_) return std::nullopt;
    const auto nl = buf_.find('\n', start_);  // before line_start_: feed() saw it
    std::string line = buf_.substr(start_, nl - start_);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    start_ = nl + 1;
    return line;
}

std::string LineSplitter::rest() {
    std::string r = buf_.substr(line_start_);
    buf_.clear();
    start_ = scan_ = line_start_ = 0;
    return r;
}

std::string join_words(const std::vector<std::string>& words) {
    if (words.size() == 1) return words.front();
    std::string line;
    for (const auto& w : words) {
        if (!line.empty()) line += ' ';
        bool plain = !w.empty();
        for (unsigned char c : w) {
            const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                              (c >= '0' && c <= '9') || c >= 0x80 ||
                              std::string_view("-_./:=@%+,^*?[]~").find(static_cast<char>(c)) !=
                                  std::string_view::npos;
            if (!safe) plain = false;
        }
        if (plain) {
            line += w;
            continue;
        }
        // '...' keeps every byte but ', which closes, escapes and opens again: 'it'\''s'.
        line += '\'';
        for (char c : w) {
            if (c == '\'') {
                line += "'\\''";
            } else {
                line += c;
            }
        }
        line += '\'';
    }
    return line;
}

}  // namespace kadnode::control
