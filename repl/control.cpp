#include "control.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <vector>

namespace kadnode {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;
using control::json;

std::optional<std::string> control_path(const std::optional<std::string>& explicit_path,
                                        bool no_control, const std::string& state_dir) {
    if (no_control) return std::nullopt;
    if (explicit_path) return *explicit_path;
    if (const char* dirs = std::getenv("RUNTIME_DIRECTORY"); dirs && *dirs) {
        // systemd names every directory of RuntimeDirectory=, separated by ':'.
        const std::string first = std::string(dirs).substr(0, std::string(dirs).find(':'));
        if (!first.empty()) return first + "/control";
    }
    if (!state_dir.empty()) return state_dir + "/control";
    return std::nullopt;
}

namespace {

std::string error_text(int e) {
    return std::strerror(e);
}

// Makes the directories of `path` that do not exist yet, each 0700; an error says why not.
std::string make_parents(const std::string& path) {
    for (auto slash = path.find('/', 1); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
        const std::string dir = path.substr(0, slash);
        if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
            return "cannot make the directory " + dir + ": " + error_text(errno);
        }
    }
    return "";
}

bool fill_address(const std::string& path, sockaddr_un& addr) {
    addr = {};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path) return false;
    std::memcpy(addr.sun_path, path.data(), path.size());
    return true;
}

// A best-effort line to a client about to be turned away (never blocks).
void say(int fd, const std::string& frame) {
    [[maybe_unused]] const auto n =
        ::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

}  // namespace

// ---- one client ---------------------------------------------------------------------------------

class ControlServer::Client : public std::enable_shared_from_this<Client> {
public:
    Client(ControlServer& server, local::socket socket)
        : server_(&server),
          io_(server.io_),
          runner_(server.runner_),
          limits_(server.limits_),
          socket_(std::move(socket)),
          lines_(limits_.max_request) {}

    void start(std::string hello) {
        boost::system::error_code ec;
        socket_.non_blocking(true, ec);
        send(std::move(hello));
        read();
    }

    void event(const std::string& frame) {
        if (subscribed_) send(frame);
    }

    // The server is going away: it must not be told again.
    void detach() { server_ = nullptr; }

    void close() {
        if (closed_) return;
        closed_ = true;
        auto self = shared_from_this();  // forget() may drop the server's reference
        cancel_.emit();                  // nobody waits for what its command does any more
        boost::system::error_code ignored;
        socket_.close(ignored);
        queue_.clear();
        out_.clear();
        if (server_) server_->forget(this);
    }

private:
    void read() {
        if (reading_ || read_done_ || closing_ || closed_) return;
        if (queue_.size() >= limits_.max_queued) return;  // resumed when a command has run
        reading_ = true;
        socket_.async_read_some(asio::buffer(buf_), [self = shared_from_this()](
                                                        const boost::system::error_code& ec,
                                                        std::size_t n) { self->on_read(ec, n); });
    }

    void on_read(const boost::system::error_code& ec, std::size_t n) {
        reading_ = false;
        if (closed_) return;
        if (ec) {
            if (ec != asio::error::eof) return close();  // reset: nobody to answer
            // The client said all it will say (shut down its side): answer it, then close.
            read_done_ = true;
            take_lines();
            pump();
            return;
        }
        if (!lines_.feed(std::string_view(buf_.data(), n))) {
            send(control::encode_error(
                "request_too_long",
                "a request line longer than " + std::to_string(limits_.max_request) + " bytes"));
            closing_ = true;
            queue_.clear();
            finish();
            return;
        }
        take_lines();
        pump();
        read();
    }

    // Parses the lines read, as far as the queue has room; at the end of the input, a last line
    // without its '\n' too.
    void take_lines() {
        while (queue_.size() < limits_.max_queued) {
            auto line = lines_.next();
            if (!line && read_done_ && !tail_taken_) {
                tail_taken_ = true;
                line = lines_.rest();
            }
            if (!line) return;
            if (line->empty()) continue;
            auto request = control::parse_request(*line);
            if (request && request->kind == control::Request::Kind::Cancel) {
                if (running_) cancel_.emit();  // now, not after the commands queued before it
                continue;
            }
            queue_.push_back(std::move(request));
        }
    }

    // Runs the next command unless one is running.
    void pump() {
        while (!running_ && !closed_ && !closing_ && !queue_.empty()) {
            auto request = std::move(queue_.front());
            queue_.pop_front();
            take_lines();
            read();
            if (!request) {
                Reply r = fail_reply(request.error());
                send(control::encode_reply(r));
                continue;
            }
            if (request->kind == control::Request::Kind::Events) {
                subscribed_ = true;
                continue;
            }
            running_ = true;
            cancel_.clear();  // the previous command's operations have ended
            std::weak_ptr<Client> weak = weak_from_this();
            runner_(
                request->line,
                [weak](const Reply& r) {
                    auto c = weak.lock();
                    if (c && !c->closed_) c->send(control::encode_reply(r));
                },
                [weak](Reply r) {
                    auto c = weak.lock();
                    if (!c || c->closed_) return;
                    c->running_ = false;
                    c->send(control::encode_reply(r));
                    // Not from inside the command: it may have completed at once.
                    asio::post(c->io_, [c] { c->pump(); });
                },
                cancel_, request->width);
            return;
        }
        finish();
    }

    static Reply fail_reply(const std::string& why) {
        Reply r;
        r.ok = false;
        r.error = "bad request: " + why;
        r.code = "bad_request";
        return r;
    }

    // Closes once the client has said all it will and has every answer.
    void finish() {
        if (closed_) return;
        if (read_done_ && queue_.empty() && !running_) closing_ = true;
        if (closing_ && out_.empty()) close();
    }

    void send(std::string frame) {
        if (closed_) return;
        out_bytes_ += frame.size();
        if (out_bytes_ > limits_.max_output) return close();  // it does not read: let it go
        out_.push_back(std::move(frame));
        flush();
    }

    // Writes what the socket takes now; waits for room for the rest.
    void flush() {
        while (!writing_ && !closed_ && !out_.empty()) {
            const std::string& front = out_.front();
            boost::system::error_code ec;
            const std::size_t n = socket_.write_some(
                asio::buffer(front.data() + offset_, front.size() - offset_), ec);
            if (ec == asio::error::would_block || ec == asio::error::try_again) {
                writing_ = true;
                socket_.async_wait(local::socket::wait_write,
                                   [self = shared_from_this()](const boost::system::error_code& e) {
                                       self->writing_ = false;
                                       if (e || self->closed_) return;
                                       self->flush();
                                   });
                return;
            }
            if (ec) return close();
            offset_ += n;
            out_bytes_ -= n;
            if (offset_ == front.size()) {
                out_.pop_front();
                offset_ = 0;
            }
        }
        if (out_.empty()) finish();
    }

    ControlServer* server_;
    asio::io_context& io_;
    Runner runner_;
    control::Limits limits_;
    local::socket socket_;
    std::array<char, 65536> buf_{};
    control::LineSplitter lines_;
    std::deque<kad::Expected<control::Request>> queue_;
    std::deque<std::string> out_;
    std::size_t offset_ = 0;     // bytes of out_.front() written
    std::size_t out_bytes_ = 0;  // bytes in out_ not written
    bool reading_ = false;
    bool read_done_ = false;
    bool tail_taken_ = false;  // the end of the input's unterminated line, if any
    bool running_ = false;
    kad::CancelSignal cancel_;  // the running command's operations
    bool writing_ = false;
    bool subscribed_ = false;
    bool closing_ = false;  // no more commands: close once the replies are written
    bool closed_ = false;
};

// ---- the server ---------------------------------------------------------------------------------

kad::Expected<std::unique_ptr<ControlServer>> ControlServer::open(asio::io_context& io,
                                                                  const std::string& path,
                                                                  Runner runner, Hello hello,
                                                                  control::Limits limits) {
    sockaddr_un addr{};
    if (!fill_address(path, addr)) {
        return kad::unexpected(path.empty()
                                   ? std::string("an empty path")
                                   : path + ": too long for a Unix socket (at most " +
                                         std::to_string(sizeof addr.sun_path - 1) + " bytes)");
    }
    if (auto why = make_parents(path); !why.empty()) return kad::unexpected(path + ": " + why);
    const auto* sa = reinterpret_cast<const sockaddr*>(&addr);
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) return kad::unexpected(path + ": exists and is not a socket");
        // A socket: a node's that is still serving, or one left by a node that is gone.
        const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe < 0) return kad::unexpected(path + ": " + error_text(errno));
        const int rc = ::connect(probe, sa, sizeof addr);
        const int e = errno;
        ::close(probe);
        if (rc == 0) {
            return kad::unexpected(path +
                                   ": another process is serving there, another kadnode with "
                                   "the same --control, --state-dir or RuntimeDirectory?");
        }
        if (e != ECONNREFUSED) return kad::unexpected(path + ": " + error_text(e));
        if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
            return kad::unexpected(path + ": cannot remove the stale socket: " + error_text(errno));
        }
    } else if (errno != ENOENT) {
        return kad::unexpected(path + ": " + error_text(errno));
    }
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return kad::unexpected(path + ": " + error_text(errno));
    // Owner-only from the start: no moment at which another user could connect.
    const mode_t old_mask = ::umask(0177);
    const int rc = ::bind(fd, sa, sizeof addr);
    const int e = errno;
    ::umask(old_mask);
    if (rc != 0) {
        ::close(fd);
        return kad::unexpected(path + ": " + error_text(e));
    }
    if (::chmod(path.c_str(), 0600) != 0 || ::listen(fd, 64) != 0 ||
        ::stat(path.c_str(), &st) != 0) {
        const int e2 = errno;
        ::close(fd);
        ::unlink(path.c_str());
        return kad::unexpected(path + ": " + error_text(e2));
    }
    std::unique_ptr<ControlServer> server(
        new ControlServer(io, path, fd, std::move(runner), std::move(hello), limits));
    server->dev_ = st.st_dev;
    server->ino_ = st.st_ino;
    server->accept();
    return server;
}

bool ControlServer::fits(const std::string& path) {
    sockaddr_un addr{};
    return fill_address(path, addr);
}

ControlServer::ControlServer(asio::io_context& io, std::string path, int fd, Runner runner,
                             Hello hello, control::Limits limits)
    : io_(io),
      path_(std::move(path)),
      acceptor_(io, local(), fd),
      retry_(io),
      runner_(std::move(runner)),
      hello_(std::move(hello)),
      limits_(limits) {}

ControlServer::~ControlServer() {
    close();
}

void ControlServer::accept() {
    acceptor_.async_accept([this](const boost::system::error_code& ec, local::socket socket) {
        if (ec == asio::error::operation_aborted || closed_) return;
        if (ec) {
            // Out of descriptors, most likely: try again a little later.
            retry_.expires_after(std::chrono::milliseconds(100));
            retry_.async_wait([this](const boost::system::error_code& e) {
                if (!e && !closed_) accept();
            });
            return;
        }
        admit(std::move(socket));
        accept();
    });
}

void ControlServer::admit(local::socket socket) {
    const int fd = socket.native_handle();
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return;
    const uid_t me = ::geteuid();
    if (cred.uid != me && cred.uid != 0) {
        say(fd, control::encode_error("permission_denied",
                                      "permission denied: uid " + std::to_string(cred.uid) +
                                          " may not use this node's control socket (only uid " +
                                          std::to_string(me) + ", the node's, and root may)"));
        return;  // the socket closes here
    }
    if (clients_.size() >= limits_.max_clients) {
        say(fd, control::encode_error("too_many_clients", "the node has " +
                                                              std::to_string(clients_.size()) +
                                                              " clients already; try again later"));
        return;
    }
    auto c = std::make_shared<Client>(*this, std::move(socket));
    clients_.emplace(c.get(), c);
    c->start(control::encode_hello(hello_ ? hello_() : json::object()));
}

void ControlServer::forget(Client* c) {
    clients_.erase(c);
}

void ControlServer::event(const std::string& name, const json& fields, const std::string& human) {
    if (clients_.empty()) return;
    const std::string frame = control::encode_event(name, fields, human);
    std::vector<std::shared_ptr<Client>> all;
    for (auto& [p, c] : clients_) all.push_back(c);
    for (auto& c : all) c->event(frame);
}

void ControlServer::close() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    retry_.cancel();
    auto all = std::move(clients_);
    clients_.clear();
    for (auto& [p, c] : all) {
        c->detach();
        c->close();
    }
    // Only the socket we made: a node started since may have replaced it with its own.
    struct stat st {};
    if (::lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) {
        ::unlink(path_.c_str());
    }
}

}  // namespace kadnode
