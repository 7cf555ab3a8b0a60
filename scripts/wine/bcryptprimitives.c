/* Stand-in for Windows' bcryptprimitives.dll, for Debian 12's wine 8.0 only, which lacks
 * it: Rust's standard library (1.78+) takes its random bytes from ProcessPrng there, as
 * every Windows 10/11 has it. scripts/smoke-windows.sh builds this into the wine prefix;
 * it is never shipped. */
#include <windows.h>
#include <bcrypt.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
  while (len > 0) {
    ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
    if (BCryptGenRandom(NULL, data, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0) return FALSE;
    data += n;
    len -= n;
  }
  return TRUE;
}
