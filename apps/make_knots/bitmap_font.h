// A tiny built-in 5x7 pixel font (A-Z, 0-9 and a few signs) for captions in the preview grid,
// so the preview needs no font library.
#pragma once

#include <cstdint>
#include <string_view>

namespace knotnet::make_knots {

inline constexpr int kGlyphWidth = 5, kGlyphHeight = 7, kGlyphAdvance = 6;

// Draws `text` with its top-left corner at (x, y) into rgb (height, width, 3), each font pixel
// a scale x scale square; lowercase letters are drawn as capitals, unknown characters as
// blanks, and whatever falls outside the image is clipped.
void draw_text(uint8_t* rgb, int width, int height, int x, int y, std::string_view text, const uint8_t color[3],
               int scale = 1);

// Width in pixels of `text` at `scale`.
int text_width(std::string_view text, int scale = 1);

}  // namespace knotnet::make_knots
