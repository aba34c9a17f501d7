// libFuzzer target for the decoders: strict bencode and KRPC.
//
// Beyond "never crashes, never reads outside the input" (AddressSanitizer checks that), it checks
// the properties the protocol relies on:
// - bencode: whatever decode() accepts is canonical, so encoding what it decoded gives back the
//   input byte for byte;
// - KRPC: a decoded message encodes to bytes that decode to the same message.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "kad/bencode.hpp"
#include "kad/krpc.hpp"

namespace {

[[noreturn]] void fail(const char* what, std::string_view detail) {
    std::fprintf(stderr, "fuzz_decode: %s (%zu bytes)\n", what, detail.size());
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    kad::bencode::Document doc;

    if (auto root = doc.decode(input)) {
        const std::string again = kad::bencode::encode(kad::bencode::to_value(*root));
        if (again != input) fail("bencode: decode then encode differs from the input", again);
    }

    if (auto msg = kad::krpc::decode(input, doc)) {
        const std::string bytes = kad::krpc::encode(*msg);
        auto back = kad::krpc::decode(bytes, doc);
        if (!back) fail("krpc: an encoded message does not decode", bytes);
        if (!(*back == *msg)) fail("krpc: encode then decode gives another message", bytes);
        if (kad::krpc::encode(*back) != bytes) fail("krpc: encoding is not stable", bytes);
    }
    return 0;
}
