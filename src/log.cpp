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

}  // namespace kad
