#pragma once
// A value or an error, for operations that fail on bad input (C++20 has no std::expected).
// Errors on the wire and in user input are values here; exceptions are kept for programmer
// errors and start-up configuration.

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace kad {

template <class E>
struct Unexpected {
    E error;
};

template <class E>
Unexpected<E> unexpected(E e) {
    return Unexpected<E>{std::move(e)};
}

inline Unexpected<std::string> unexpected(const char* message) {
    return Unexpected<std::string>{message};
}

template <class T, class E = std::string>
class Expected {
public:
    Expected(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    // A value constructed from `args` where it lies (no move of a large T), to be filled there.
    template <class... Args>
    explicit Expected(std::in_place_t, Args&&... args)
        : v_(std::in_place_index<0>, std::forward<Args>(args)...) {}
    template <class U>
    Expected(Unexpected<U> e) : v_(std::in_place_index<1>, E(std::move(e.error))) {}

    bool has_value() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }

    T& value() & {
        assert(has_value());
        return std::get<0>(v_);
    }
    const T& value() const& {
        assert(has_value());
        return std::get<0>(v_);
    }
    T&& value() && {
        assert(has_value());
        return std::get<0>(std::move(v_));
    }
    const E& error() const {
        assert(!has_value());
        return std::get<1>(v_);
    }

    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

private:
    std::variant<T, E> v_;
};

}  // namespace kad
