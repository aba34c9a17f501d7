#pragma once
// The control socket's wire format (docs/ARCHITECTURE.md, "The control socket"): one JSON object
// per line, both ways. The client sends {"line": "..."} (a command line) or {"events": true};
// the node answers with {"type": "hello"} once, then per command any {"type": "partial"} lines
// and one {"type": "reply"}, and {"type": "event"} lines when asked for them, or {"type":
// "error"} before it closes the connection. A string that must keep every byte (the command
// line, a reply's text) travels as "<name>_b64" (base64) when it is not valid UTF-8.
//
// Pure: no sockets here, so that the framing and parsing are unit-tested (tests/test_control.cpp).

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kad/expected.hpp"
#include "shell.hpp"

namespace kadnode::control {

using json = nlohmann::ordered_json;

// What one client can make the node hold.
struct Limits {
    std::size_t max_request = 1 << 20;   // bytes of one request line (a command line is ~32 KiB)
    std::size_t max_queued = 64;         // commands read ahead of the one running (then: no reads)
    std::size_t max_output = 128 << 20;  // bytes of replies not yet read by the client
    std::size_t max_clients = 64;        // connections at once
};

bool valid_utf8(std::string_view s);
std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);

// j[name] = bytes when they are UTF-8, else j[name + "_b64"] = base64(bytes).
void put_bytes(json& j, const std::string& name, std::string_view bytes);
// The bytes put_bytes put (either form); nullopt when neither is there or not a string.
std::optional<std::string> get_bytes(const json& j, const std::string& name);

// ---- client to node ----

struct Request {
    // Cancel: end the command that runs now (Ctrl-C at kadnode-cli); taken as it is read, not
    // queued behind the commands sent before it (a client whose queue is full is not read).
    enum class Kind { Command, Events, Cancel };
    Kind kind = Kind::Command;
    std::string line;       // Command: the command line, any bytes
    std::size_t width = 0;  // Command: the columns of the client's terminal ("width"); 0: none
};

// One request line, '\n' included.
std::string encode_request(const Request& r);
// A request line (without its '\n'); an error says what is wrong with it.
kad::Expected<Request> parse_request(std::string_view line);

// ---- node to client ----

struct Frame {
    enum class Type { Hello, Partial, Reply, Event, Error };
    Type type = Type::Reply;
    Reply reply;                 // Partial, Reply
    std::string event;           // Event: its name
    std::string text;            // Event: for a person
    json data = json::object();  // Hello, Event: its fields
    std::string code;            // Error
    std::string error;           // Error
};

// Each a line, '\n' included.
std::string encode_reply(const Reply& r);  // a partial reply or a final one
std::string encode_event(const std::string& name, const json& fields, std::string_view text);
std::string encode_hello(const json& fields);
std::string encode_error(const std::string& code, const std::string& error);
kad::Expected<Frame> parse_frame(std::string_view line);

// An event as kadnode prints it: {"event": name, ...fields} with --json, else its text.
std::string render_event(const Frame& f, bool as_json);

// ---- framing ----

// Splits a byte stream into lines ('\n', with a '\r' before it dropped), holding at most `max`
// bytes of a line not yet complete.
class LineSplitter {
public:
    explicit LineSplitter(std::size_t max) : max_(max) {}
    // Adds bytes; false once a line is longer than max (the stream cannot be read further).
    bool feed(std::string_view bytes);
    // The next complete line, if any.
    std::optional<std::string> next();
    // What is left of an unterminated line, once every complete line has been taken (at the
    // end of the stream); the splitter is empty afterwards.
    std::string rest();

private:
    std::size_t max_;
    std::string buf_;
    std::size_t start_ = 0;       // where the next line not taken starts
    std::size_t line_start_ = 0;  // where the last line not complete starts
    std::size_t scan_ = 0;        // bytes looked at for '\n'
    bool overflow_ = false;
};

// ---- kadnode-cli ----

// The command line that the words of kadnode-cli's arguments form: one word is the line itself
// (`kadnode-cli "put k v"`, as --exec takes it); several are quoted where needed, so that the
// shell's words reach the command as they were (`kadnode-cli put k "two  spaces"`).
std::string join_words(const std::vector<std::string>& words);

}  // namespace kadnode::control
