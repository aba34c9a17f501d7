#include "kad/log.hpp"

namespace kad {

const char* to_string(LogLevel l) noexcept {
    switch (l) {
        case LogLevel::Trace:
            return "trace";
        case LogLevel::Debug:
            return "debug";
        case LogLevel::Info:
            return "info";
        case LogLevel::Warn:
            return "warn";
        case LogLevel::Error:
            return "error";
        case LogLevel::Off:
            return "off";
    }
    return "?";
}

std::optional<LogLevel> parse_log_level(std::string_view text) {
    for (int i = 0; i <= static_cast<int>(LogLevel::Off); ++i) {
        const auto l = static_cast<LogLevel>(i);
        if (text == to_string(l)) return l;
    }
    if (text == "warning") return LogLevel::Warn;
    return std::nullopt;
}

namespace {

bool is_control(char c) noexcept {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
}

}  // namespace

bool needs_escaping(std::string_view text) noexcept {
    for (char c : text) {
        if (is_control(c) || c == '\\') return true;
    }
    return false;
}

std::string escape_controls(std::string_view text) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(text.size() + 8);
    for (char c : text) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\t') {
            out += "\\t";
        } else if (is_control(c)) {
            const auto u = static_cast<unsigned char>(c);
            out += "\\x";
            out += kHex[u >> 4];
            out += kHex[u & 0xf];
        } else {
            out += c;
        }
    }
    return out;
}

}  // namespace kad
