// Writes an 8-bit RGB image to a PNG file with libpng (used for the dataset preview).
#pragma once

#include <cstdint>
#include <string>

namespace knotnet::knots {

// rgb is (height, width, 3), row-major. Throws naming the file when it cannot be written.
void write_png(const std::string& path, const uint8_t* rgb, int width, int height);

}  // namespace knotnet::knots
