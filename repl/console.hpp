#pragma once
// The interactive terminal: GNU readline's callback interface on the io_context, so that typing,
// network events and log lines share one thread. print() and print_error() redraw the prompt and
// the half-typed line around what they print, so asynchronous output never garbles them.
//
// Readline's callbacks are plain C functions with no user pointer: one Console may exist at a
// time, and it registers itself for them.

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>
#include <optional>
#include <string>

namespace kadnode {

class Console {
public:
    using LineHandler = std::function<void(std::optional<std::string>)>;  // nullopt: Ctrl-D

    Console(boost::asio::io_context& io, std::string prompt, std::string history_file,
            LineHandler on_line);
    ~Console();
    Console(const Console&) = delete;
    Console& operator=(const Console&) = delete;

    // Shows the prompt and reads keys until a line is entered; the prompt is then hidden until
    // resume(), so a command's output comes before the next prompt.
    void resume();
    void print(const std::string& text);
    void print_error(const std::string& text);
    void resize();  // after SIGWINCH
    // Ctrl-C at the prompt (SIGINT), as bash takes it: shows ^C, drops the half-typed line and
    // gives a fresh prompt. Nothing while the prompt is hidden (a command runs).
    void interrupt();
    // The prompt from now on (the node took a new ID); redrawn at once if shown.
    void set_prompt(std::string prompt);
    // Restores the terminal and saves the history. Idempotent.
    void stop();

private:
    void wait_for_input();
    void emit(std::FILE* f, const std::string& text);
    static void on_readline(char* line);

    boost::asio::posix::stream_descriptor in_;
    std::string prompt_;
    std::string history_file_;
    LineHandler on_line_;
    bool active_ = false;   // the prompt is shown and keys are read
    bool waiting_ = false;  // an async_wait for a key is pending
    bool stopped_ = false;
};

// The columns of the terminal on stdout; 0 when stdout is no terminal.
std::size_t terminal_width();

// Output of kadnode and kadnode-cli, with or without a console: above the prompt when there is
// one, else a line on stdout (print_line; nothing for empty text) or on stderr (print_problem).
void print_line(Console* console, const std::string& text);
void print_problem(Console* console, const std::string& text);

}  // namespace kadnode
