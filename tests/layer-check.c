/* SPDX-License-Identifier: MIT */
/*
 * The layer check (meson.build): linked with one layer's static library whole (--whole-archive)
 * and only the layers under it.  It does nothing when run; that it links at all is the check:
 * a function of the layer that calls a function of a layer above it leaves an undefined symbol.
 */
int main(void)
{
        return 0;
}
