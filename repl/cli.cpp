// kadnode-cli: runs commands on a running kadnode through its control socket (control.hpp,
// control_protocol.hpp). The node's own shell runs them: the commands, their replies and their
// JSON are kadnode's. One command from the arguments, commands from stdin (one a line), or the
// same readline console as kadnode's on a terminal.

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "console.hpp"
#include "control_protocol.hpp"
#include "shell.hpp"
#include "version.hpp"

namespace asio = boost::asio;
using local = asio::local::stream_protocol;
using kadnode::control::Frame;

namespace {

constexpr const char* kDefaultControl = "/run/kadnode/control";  // the packaged service's

// Exit statuses: as kadnode --exec's, and one more for a node that cannot be reached.
constexpr int kOk = 0;
constexpr int kFailed = 1;        // a command failed
constexpr int kUsage = 2;         // a bad option
constexpr int kNoConnection = 3;  // no node at the socket, refused, or gone
// A node greets a client at once; one that has not after this is stopped or stuck.
constexpr std::chrono::seconds kHelloTimeout{5};

struct CliOptions {
    std::string control;
    bool control_given = false;
    bool json = false;
    std::vector<std::string> words;  // the command, if given
};

void usage(std::FILE* f) {
    std::fprintf(f,
                 "kadnode-cli %s: runs commands on a running kadnode through its control socket.\n"
                 "\n"
                 "usage: kadnode-cli [options] [COMMAND [ARG...]]\n"
                 "With a command, runs it and exits: 0 if it worked, 1 if it failed. Without one,\n"
                 "reads commands from the terminal with line editing, or one a line from stdin\n"
                 "when it is not a terminal (exit status 1 if any failed). The commands are\n"
                 "kadnode's (kadnode-cli help lists them); one argument is the whole command\n"
                 "line (kadnode-cli \"put k v\"), several are its words.\n"
                 "\n"
                 "Options:\n"
                 "  --control PATH   the node's control socket (default: $KADNODE_CONTROL, else\n"
                 "                   %s, the packaged service's)\n"
                 "  --json           print every reply and event as one JSON object per line, as\n"
                 "                   kadnode --json does\n"
                 "  -h [ --help ]    print this help and exit\n"
                 "  --version        print the version and exit\n"
                 "\n"
                 "Exit status: 0 ok; 1 a command failed; 2 a bad option; 3 no node could be\n"
                 "reached (no socket, permission denied, the node went away).\n",
                 kadnode::kVersion, kDefaultControl);
}

std::variant<CliOptions, int> parse(int argc, char** argv) {
    CliOptions o;
    int i = 1;
    for (; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--") {
            ++i;
            break;
        }
        if (a.empty() || a[0] != '-') break;  // the command starts here
        if (a == "-h" || a == "--help") {
            usage(stdout);
            return kOk;
        }
        if (a == "--version") {
            std::printf("kadnode-cli %s\n", kadnode::kVersion);
            return kOk;
        }
        if (a == "--json") {
            o.json = true;
        } else if (a == "--control" || a.starts_with("--control=")) {
            if (a == "--control") {
                if (i + 1 >= argc) {
                    std::fprintf(stderr, "kadnode-cli: --control needs a PATH\n");
                    return kUsage;
                }
                o.control = argv[++i];
            } else {
                o.control = a.substr(10);
            }
            if (o.control.empty()) {
                std::fprintf(stderr, "kadnode-cli: --control: an empty path\n");
                return kUsage;
            }
            o.control_given = true;
        } else {
            std::fprintf(stderr, "kadnode-cli: unknown option '%s' (see kadnode-cli --help)\n",
                         a.c_str());
            return kUsage;
        }
    }
    for (; i < argc; ++i) o.words.emplace_back(argv[i]);
    if (!o.control_given) {
        const char* env = std::getenv("KADNODE_CONTROL");
        o.control = env && *env ? env : kDefaultControl;
    }
    return o;
}

// Why the socket cannot be reached, for a person.
std::string connect_error(const CliOptions& o, const boost::system::error_code& ec) {
    const std::string at = o.control;
    const std::string pick =
        o.control_given ? ""
                        : " (give --control PATH: the node's --control, or DIR/control for "
                          "--state-dir DIR)";
    if (ec == asio::error::not_found || ec.value() == ENOENT) {
        return "no control socket at " + at + ": is kadnode running there?" + pick;
    }
    if (ec == asio::error::connection_refused) {
        return "nothing answers at " + at + ": the node that made it has stopped" + pick;
    }
    if (ec == asio::error::access_denied || ec.value() == EPERM) {
        return at +
               ": permission denied: the control socket is only for the node's user and "
               "root";
    }
    return at + ": " + ec.message() + pick;
}

class Cli {
public:
    Cli(asio::io_context& io, CliOptions opts)
        : io_(io),
          opts_(std::move(opts)),
          socket_(io),
          signals_(io, SIGINT, SIGTERM),
          hello_timer_(io),
          frames_(std::size_t{1} << 30) {}

    int run() {
        boost::system::error_code ec;
        socket_.connect(local::endpoint(opts_.control), ec);
        if (ec) {
            std::fprintf(stderr, "kadnode-cli: %s\n", connect_error(opts_, ec).c_str());
            return kNoConnection;
        }
        if (opts_.words.empty()) {
            interactive_ = ::isatty(STDIN_FILENO);
            piped_ = !interactive_;
        }
        wait_for_signals();
        hello_timer_.expires_after(kHelloTimeout);
        hello_timer_.async_wait([this](const boost::system::error_code& e) {
            if (e || stopped_ || got_hello_) return;
            problem("the node at " + opts_.control + " did not answer within " +
                    std::to_string(kHelloTimeout.count()) +
                    " s: it is stopped (SIGSTOP?) or too busy to answer");
            stop(kNoConnection);
        });
        read();
        io_.run();
        return exit_code_;
    }

private:
    void read() {
        socket_.async_read_some(
            asio::buffer(buf_), [this](const boost::system::error_code& ec, std::size_t n) {
                if (stopped_) return;
                if (ec) {
                    problem(got_hello_ && !running_
                                ? "the node closed the connection"
                                : "the node closed the connection before it answered");
                    return stop(kNoConnection);
                }
                if (!frames_.feed(std::string_view(buf_.data(), n))) {
                    problem("the node sent a line too long to read");
                    return stop(kNoConnection);
                }
                while (auto line = frames_.next()) {
                    auto frame = kadnode::control::parse_frame(*line);
                    if (!frame) {
                        problem("the node sent " + frame.error());
                        return stop(kNoConnection);
                    }
                    on_frame(*frame);
                    if (stopped_) return;
                }
                read();
            });
    }

    void on_frame(const Frame& f) {
        switch (f.type) {
            case Frame::Type::Hello:
                got_hello_ = true;
                hello_timer_.cancel();
                return on_hello(f);
            case Frame::Type::Error:
                problem(f.error);
                return stop(kNoConnection);
            case Frame::Type::Event:
                if (f.event == "id" && console_) {  // BEP 42 gave the node a new id
                    if (auto it = f.data.find("id"); it != f.data.end() && it->is_string()) {
                        console_->set_prompt(prompt(it->get<std::string>()));
                    }
                }
                return print(kadnode::control::render_event(f, opts_.json));
            case Frame::Type::Partial:
                return print(kadnode::render(f.reply, opts_.json));
            case Frame::Type::Reply:
                return on_reply(f.reply);
        }
    }

    void on_hello(const Frame& f) {
        const auto text = [&](const char* name) {
            auto it = f.data.find(name);
            return it != f.data.end() && it->is_string() ? it->get<std::string>() : std::string();
        };
        if (interactive_) {
            send({kadnode::control::Request::Kind::Events, {}});
            const char* home = std::getenv("HOME");
            console_ = std::make_unique<kadnode::Console>(
                io_, prompt(text("id")),
                home ? std::string(home) + "/.kadnode_cli_history" : std::string(),
                [this](std::optional<std::string> line) { on_console_line(std::move(line)); });
            winch_ = std::make_unique<asio::signal_set>(io_, SIGWINCH);
            wait_for_resize();
            print("kadnode " + text("version") + ": node " + text("id") + " at " + text("addr") +
                  ", through " + opts_.control +
                  "\ntype help for the commands, quit or Ctrl-D to leave");
            console_->resume();
        } else if (piped_) {
            next_line();
        } else {
            execute(kadnode::control::join_words(opts_.words));
        }
    }

    static std::string prompt(const std::string& id) { return "kad " + id.substr(0, 8) + "> "; }

    void on_reply(const kadnode::Reply& r) {
        running_ = false;
        if (!r.blank) {
            print(kadnode::render(r, opts_.json));
            if (!r.ok && !interactive_) exit_code_ = kFailed;
        }
        if (r.quit) return stop(exit_code_);
        if (interactive_) {
            console_->resume();
        } else if (piped_) {
            next_line();
        } else {
            stop(exit_code_);
        }
    }

    // Commands on stdin, one at a time as they come; the end of input ends the client.
    void next_line() {
        std::string line;
        if (!std::getline(std::cin, line)) return stop(exit_code_);
        execute(line);
    }

    void on_console_line(std::optional<std::string> line) {
        if (!line) return stop(exit_code_);
        execute(*line);
    }

    void execute(const std::string& line) {
        running_ = true;
        // At a terminal, the node fits ls's lines to its width.
        send({kadnode::control::Request::Kind::Command, line, kadnode::terminal_width()});
    }

    void send(const kadnode::control::Request& r) {
        boost::system::error_code ec;
        asio::write(socket_, asio::buffer(kadnode::control::encode_request(r)), ec);
        if (ec) {
            problem("cannot send to the node: " + ec.message());
            stop(kNoConnection);
        }
    }

    void wait_for_signals() {
        signals_.async_wait([this](const boost::system::error_code& e, int signo) {
            if (e || stopped_) return;
            if (signo == SIGINT && console_) {
                // Ctrl-C, as in kadnode's own REPL: cancel the command the node runs for us, or
                // drop the typed line. The client stays.
                if (running_) {
                    std::fputc('\n', stdout);  // after the ^C the terminal echoed
                    send({kadnode::control::Request::Kind::Cancel, {}});
                } else {
                    console_->interrupt();
                }
                return wait_for_signals();
            }
            // SIGINT to a script stops it with 128 + 2, as a shell does, and the command the
            // node runs for it with it.
            if (running_) send({kadnode::control::Request::Kind::Cancel, {}});
            stop(signo == SIGINT ? 130 : interactive_ ? kOk : kFailed);
        });
    }

    void wait_for_resize() {
        winch_->async_wait([this](const boost::system::error_code& ec, int) {
            if (ec || stopped_) return;
            console_->resize();
            wait_for_resize();
        });
    }

    void print(const std::string& text) { print_line(console_.get(), text); }
    void problem(const std::string& text) { print_problem(console_.get(), "kadnode-cli: " + text); }

    void stop(int code) {
        if (stopped_) return;
        stopped_ = true;
        exit_code_ = code;
        if (console_) console_->stop();
        boost::system::error_code ignored;
        socket_.close(ignored);
        signals_.cancel();
        hello_timer_.cancel();
        if (winch_) winch_->cancel();
    }

    asio::io_context& io_;
    CliOptions opts_;
    local::socket socket_;
    asio::signal_set signals_;
    asio::steady_timer hello_timer_;
    std::unique_ptr<asio::signal_set> winch_;
    std::unique_ptr<kadnode::Console> console_;
    std::array<char, 65536> buf_{};
    kadnode::control::LineSplitter frames_;
    bool interactive_ = false;
    bool piped_ = false;
    bool got_hello_ = false;
    bool running_ = false;
    bool stopped_ = false;
    int exit_code_ = kOk;
};

}  // namespace

int main(int argc, char** argv) {
    auto parsed = parse(argc, argv);
    if (const int* code = std::get_if<int>(&parsed)) return *code;
    try {
        asio::io_context io;
        Cli cli(io, std::move(std::get<CliOptions>(parsed)));
        return cli.run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "kadnode-cli: %s\n", e.what());
        return kNoConnection;
    }
}
