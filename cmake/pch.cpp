// The translation unit that builds the precompiled header of cmake/pch.hpp.
