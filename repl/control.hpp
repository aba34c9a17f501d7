#pragma once
// kadnode's control socket: a Unix stream socket on which clients (kadnode-cli) send command
// lines and read their replies (control_protocol.hpp), run by the node's own Shell. Owner-only:
// the socket is made 0600 (in a directory made 0700 if it has to be made), and a client whose
// peer credentials (SO_PEERCRED) are not the node's user's or root's is refused.
//
// Each client has its own queue: its commands run one at a time, in order, while other clients'
// and the terminal's run beside them. What a client can make the node hold is bounded
// (control::Limits): a request line's length, commands read ahead (beyond them the node stops
// reading from that client until one has run), replies it has not read (beyond them it is
// disconnected), and clients at once.

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "control_protocol.hpp"
#include "kad/expected.hpp"
#include "shell.hpp"

namespace kadnode {

// Where the node serves its control socket: `explicit_path` (--control) if given; none with
// --no-control; else $RUNTIME_DIRECTORY/control when systemd set RUNTIME_DIRECTORY (its first
// directory); else DIR/control with --state-dir DIR; else none.
std::optional<std::string> control_path(const std::optional<std::string>& explicit_path,
                                        bool no_control, const std::string& state_dir);

class ControlServer {
public:
    // Runs one command line for a client: partial replies through `output`, then `done` once.
    // The client's {"cancel":true} emits `cancel`: the command's operations end "cancelled".
    // `width`: the columns of the client's terminal, as its request says (0: none).
    using Runner = std::function<void(const std::string& line, const Output& output,
                                      std::function<void(Reply)> done, kad::CancelSignal& cancel,
                                      std::size_t width)>;
    // The fields of the hello every client gets first (the node's id, address, version).
    using Hello = std::function<control::json()>;

    // Binds and listens at `path`. A socket left there by a node that is gone (nothing
    // answers) is replaced; one that answers is an error, as is anything else at that path.
    static kad::Expected<std::unique_ptr<ControlServer>> open(boost::asio::io_context& io,
                                                              const std::string& path,
                                                              Runner runner, Hello hello,
                                                              control::Limits limits = {});
    // Whether a Unix socket can be bound at `path` (sun_path holds 107 bytes).
    static bool fits(const std::string& path);
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    // An event (as App::event prints it) for every client that asked for events.
    void event(const std::string& name, const control::json& fields, const std::string& human);
    // Stops accepting, disconnects every client and removes the socket. Idempotent.
    void close();

    const std::string& path() const { return path_; }
    std::size_t clients() const { return clients_.size(); }

private:
    class Client;
    ControlServer(boost::asio::io_context& io, std::string path, int fd, Runner runner, Hello hello,
                  control::Limits limits);
    void accept();
    void admit(boost::asio::local::stream_protocol::socket socket);
    void forget(Client* c);

    boost::asio::io_context& io_;
    std::string path_;
    boost::asio::local::stream_protocol::acceptor acceptor_;
    boost::asio::steady_timer retry_;
    Runner runner_;
    Hello hello_;
    control::Limits limits_;
    std::unordered_map<Client*, std::shared_ptr<Client>> clients_;
    unsigned long long dev_ = 0, ino_ = 0;  // the socket file we made: removed only if still ours
    bool closed_ = false;
};

}  // namespace kadnode
