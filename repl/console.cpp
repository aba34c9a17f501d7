#include "console.hpp"

#include <fcntl.h>
#include <readline/history.h>
#include <readline/readline.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "shell.hpp"

namespace kadnode {

namespace {

Console* g_console = nullptr;  // see the header: readline's callbacks carry no user data

// What Tab offers for the word being completed (shell.cpp's completions()), handed to readline
// one at a time.
std::vector<std::string> g_matches;

char* match_generator(const char*, int state) {
    static std::size_t index;
    if (state == 0) index = 0;
    if (index >= g_matches.size()) return nullptr;
    const std::string& m = g_matches[index++];
    return strndup(m.data(), m.size());
}

char** complete(const char* text, int start, int end) {
    rl_attempted_completion_over = 1;  // no file names
    g_matches = completions(std::string_view(rl_line_buffer, static_cast<std::size_t>(end)),
                            static_cast<std::size_t>(start));
    if (g_matches.empty()) return nullptr;
    return rl_completion_matches(text, match_generator);
}

}  // namespace

namespace {

// The terminal, opened afresh: Asio makes its descriptor non-blocking, and on a descriptor
// shared with stdout (a dup of stdin is one) that would leak to stdout and, after we exit, to
// the shell and whatever it runs next.
int open_terminal() {
    if (const char* name = ::ttyname(STDIN_FILENO)) {
        const int fd = ::open(name, O_RDONLY | O_NOCTTY | O_CLOEXEC);
        if (fd >= 0) return fd;
    }
    return ::dup(STDIN_FILENO);
}

}  // namespace

Console::Console(boost::asio::io_context& io, std::string prompt, std::string history_file,
                 LineHandler on_line)
    : in_(io, open_terminal()),
      prompt_(std::move(prompt)),
      history_file_(std::move(history_file)),
      on_line_(std::move(on_line)) {
    g_console = this;
    rl_catch_signals = 0;  // Boost.Asio handles SIGINT and SIGTERM
    rl_catch_sigwinch = 0;
    rl_readline_name = "kadnode";
    rl_attempted_completion_function = complete;
    using_history();
    stifle_history(1000);
    if (!history_file_.empty()) read_history(history_file_.c_str());
}

Console::~Console() {
    stop();
    if (g_console == this) g_console = nullptr;
}

void Console::on_readline(char* line) {
    Console* self = g_console;
    std::optional<std::string> text;
    if (line) {
        text = line;
        if (*line) add_history(line);
        std::free(line);
    }
    if (!self) return;
    // Hide the prompt while the command runs; resume() brings it back.
    rl_callback_handler_remove();
    self->active_ = false;
    if (!text) std::fputc('\n', stdout);  // Ctrl-D leaves the cursor after the prompt
    self->on_line_(std::move(text));
}

void Console::resume() {
    if (stopped_ || active_) return;
    active_ = true;
    rl_callback_handler_install(prompt_.c_str(), &Console::on_readline);
    wait_for_input();
}

void Console::set_prompt(std::string prompt) {
    prompt_ = std::move(prompt);
    if (!active_) return;
    rl_set_prompt(prompt_.c_str());
    rl_redisplay();
}

void Console::wait_for_input() {
    // One wait at a time: a command that completes inside the line handler resumes the prompt
    // (and asks for input) before this handler's own re-arm below.
    if (waiting_) return;
    waiting_ = true;
    in_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                   [this](const boost::system::error_code& ec) {
                       waiting_ = false;
                       if (ec || stopped_ || !active_) return;
                       rl_callback_read_char();
                       if (active_) wait_for_input();
                   });
}

void Console::emit(std::FILE* f, const std::string& text) {
    std::fflush(stdout);
    if (!active_) {
        std::fputs(text.c_str(), f);
        std::fputc('\n', f);
        std::fflush(f);
        return;
    }
    // Clear the prompt line, print, then draw the prompt and the half-typed line again.
    char* saved = rl_copy_text(0, rl_end);
    const int point = rl_point;
    rl_save_prompt();
    rl_replace_line("", 0);
    rl_redisplay();
    std::fputs(text.c_str(), f);
    std::fputc('\n', f);
    std::fflush(f);
    rl_restore_prompt();
    rl_replace_line(saved, 0);
    rl_point = point;
    rl_redisplay();
    std::free(saved);
}

void Console::print(const std::string& text) {
    emit(stdout, text);
}

std::size_t terminal_width() {
    struct winsize ws {};
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) != 0) return 0;
    return ws.ws_col;
}

void print_line(Console* console, const std::string& text) {
    if (text.empty()) return;
    if (console) {
        console->print(text);
    } else {
        std::fputs(text.c_str(), stdout);
        std::fputc('\n', stdout);
        std::fflush(stdout);
    }
}

void print_problem(Console* console, const std::string& text) {
    if (console) {
        console->print_error(text);
    } else {
        std::fprintf(stderr, "%s\n", text.c_str());
    }
}

void Console::print_error(const std::string& text) {
    emit(stderr, text);
}

void Console::resize() {
    if (active_) rl_resize_terminal();
}

void Console::interrupt() {
    if (!active_ || stopped_) return;
    rl_callback_sigcleanup();  // out of an incremental search or a numeric argument
    rl_free_line_state();
    rl_point = rl_end;  // the ^C after everything typed, as a terminal shows it
    rl_redisplay();
    std::fputs("^C\n", stdout);
    std::fflush(stdout);
    rl_replace_line("", 0);
    rl_reset_line_state();  // a fresh line, the prompt drawn anew
    using_history();        // the next Up starts again from the newest line
    rl_redisplay();
}

void Console::stop() {
    if (stopped_) return;
    stopped_ = true;
    if (active_) {
        rl_callback_handler_remove();
        active_ = false;
    }
    boost::system::error_code ignored;
    in_.close(ignored);
    if (!history_file_.empty()) write_history(history_file_.c_str());
}

}  // namespace kadnode
