#pragma once

namespace counsel::crypto {

// Initializes libsodium exactly once (thread-safe); every crypto entry point calls it first.
// Throws std::runtime_error if libsodium cannot initialize (no usable randomness source).
void ensure_sodium();

}  // namespace counsel::crypto
