#pragma once
// Leveled logging through a sink the program provides. The core formats a message only when its
// level is enabled, and never writes anywhere itself: kadnode sends lines to stderr (without
// garbling the REPL's prompt) or to a file; tests and embedders may capture them.

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace kad {

enum class LogLevel : int { Trace = 0, Debug, Info, Warn, Error, Off };

const char* to_string(LogLevel l) noexcept;
std::optional<LogLevel> parse_log_level(std::string_view text);
// Whether `text` holds a control byte (below 0x20, or 0x7f) or a backslash; the text with each
// control byte escaped and each backslash doubled, so that the escaping reads back unambiguously.
bool needs_escaping(std::string_view text) noexcept;
std::string escape_controls(std::string_view text);

class Logger {
public:
    using Sink = std::function<void(LogLevel, std::string_view)>;

    Logger() = default;  // logs nothing
    Logger(LogLevel level, Sink sink) : level_(level), sink_(std::move(sink)) {}

    bool enabled(LogLevel l) const noexcept { return sink_ && l >= level_ && l != LogLevel::Off; }
    LogLevel level() const noexcept { return level_; }
    void set_level(LogLevel l) noexcept { level_ = l; }
    // A message is one line: control bytes in it (a key or an error text from the network
    // may hold a newline) reach the sink escaped, as \n, \r, \t or \xNN, so nobody can
    // write a forged line into the log.
    void log(LogLevel l, std::string_view message) const {
        if (!enabled(l)) return;
        if (needs_escaping(message)) {
            sink_(l, escape_controls(message));
        } else {
            sink_(l, message);
        }
    }

private:
    LogLevel level_ = LogLevel::Off;
    Sink sink_;
};

}  // namespace kad

// Builds the message only when the level is on: KAD_LOG(logger, Debug, "x = " + s).
#define KAD_LOG(logger, lvl, message)                      \
    do {                                                   \
        if ((logger).enabled(::kad::LogLevel::lvl)) {      \
            (logger).log(::kad::LogLevel::lvl, (message)); \
        }                                                  \
    } while (0)
