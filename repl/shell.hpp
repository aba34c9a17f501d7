#pragma once
// The kadnode commands, independent of where lines come from (a terminal, --exec, stdin) and of
// how results are shown: run() parses one line, runs it against the node and hands back a
// Reply, which render() turns into a person's text or one JSON object. A command whose output
// would grow with the node's state (ls --limit all) streams it instead: partial replies through
// the Shell's Output, one line each, before the final one.

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "kad/crypto.hpp"
#include "kad/expected.hpp"
#include "kad/identity.hpp"
#include "kad/runtime.hpp"
#include "kad/time.hpp"

namespace kadnode {

struct Call;  // command_util.hpp
using Handler = void (*)(const Call&);

// The words Tab offers for a command's arguments.
using Words = std::vector<std::string_view> (*)();

// One row of the command table: help, completion and "did you mean" are made from these.
struct CommandInfo {
    std::string_view name;
    std::string_view usage;
    std::string_view summary;
    std::string_view detail;
    Handler run = nullptr;
    std::vector<std::string_view> aliases = {};
    Words completes = nullptr;  // for every argument (nullptr: nothing to offer)
};

// The table, in the order help lists it.
const std::vector<CommandInfo>& commands();

// What Tab offers for the word that begins at `start` in `line` (the text typed so far, up to
// the cursor): command names for the first word, then the words of the command's row
// (`completes`), case-insensitively.
std::vector<std::string> completions(std::string_view line, std::size_t start);

struct Reply {
    std::string cmd;  // the command as typed ("p", "get", ...)
    bool ok = false;
    std::string error;  // why not ok, for a person
    // Why not ok, for a program: a kad::Failure name ("timeout", "not_found", ...), or
    // "bad_argument" / "unknown_command" for a line the shell refused.
    std::string code;
    std::string text;  // for a person: one or more lines, no trailing newline
    nlohmann::ordered_json data = nlohmann::ordered_json::object();  // the fields, for --json
    bool quit = false;   // the command asks the program to leave
    bool blank = false;  // an empty line or a comment: nothing to show
    // One line of a streamed result, before the final reply: in JSON {"cmd":...,"partial":true,
    // ...data} with no "ok" (the command has not finished). It may carry only text (nothing is
    // shown with --json) or only data (nothing is shown without).
    bool partial = false;
};

// Where partial replies go, as they are made.
using Output = std::function<void(const Reply&)>;
// Where the node's events go (kadnode's event(): a line, or one JSON object with "event").
using EventSink = std::function<void(const std::string& name, const nlohmann::ordered_json& fields,
                                     const std::string& text)>;

// One line of JSON (no newline) or the human text, for a reply; empty for a partial reply with
// nothing to show in that form.
std::string render(const Reply& r, bool json);
// JSON text that never throws on bytes that are not UTF-8 (they become U+FFFD).
std::string dump(const nlohmann::ordered_json& j);

// The key that signs this node's mutable items (mput), loaded or made on first use; an error
// says why there is none.
using Identity = std::function<kad::Expected<kad::Ed25519KeyPair>()>;

class Shell {
public:
    Shell(kad::AsioNode& node, kad::TimePoint started, std::string network);

    // Runs one command line. `done` is called exactly once, possibly later (after network I/O);
    // an empty line or a comment (#...) completes with an empty cmd and no output.
    void run(std::string_view line, std::function<void(Reply)> done,
             kad::CancelSignal* cancel = nullptr, std::size_t width = 0) {
        run(line, std::move(done), output_, cancel, width);
    }
    // The same, with this command's partial replies sent to `output` instead (a client of the
    // control socket: each command's stream goes back to whoever sent it). With a `cancel`
    // signal, its emit() ends the network operations the command started: the command then
    // completes with "cancelled" (Ctrl-C at the terminal). `width`: the columns of the
    // terminal that shows the reply (0: none), to which ls fits its lines.
    void run(std::string_view line, std::function<void(Reply)> done, const Output& output,
             kad::CancelSignal* cancel = nullptr, std::size_t width = 0);

    // Where mput's key comes from. Without one, mput makes a key for this run only.
    void set_identity(Identity identity) { identity_ = std::move(identity); }
    // Where streamed output goes (see Reply::partial). Without one, nothing streams: ls --limit
    // all gathers every item into its one reply.
    void set_output(Output output) { output_ = std::move(output); }

    // Where the events of watches that run beside later commands go (watch in a script).
    // Without a sink, watch runs only at a terminal.
    void set_events(EventSink events) { events_ = std::move(events); }

    // For the commands (command_util.hpp).
    kad::TimePoint started() const noexcept { return started_; }
    const std::string& network() const noexcept { return network_; }
    const Identity& identity() const noexcept { return identity_; }
    const EventSink& events() const noexcept { return events_; }
    // The watches that run beside later commands, by key (watch, unwatch).
    std::map<std::string, std::vector<kad::WatchId>>& background_watches() noexcept {
        return background_;
    }

private:
    kad::AsioNode& node_;
    kad::TimePoint started_;
    std::string network_;
    Identity identity_;
    Output output_;
    EventSink events_;
    std::map<std::string, std::vector<kad::WatchId>> background_;
};

}  // namespace kadnode
