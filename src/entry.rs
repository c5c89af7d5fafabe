//! The static-pie binary's ELF entry point (`ecr_login_start`, named by build.rs with `-e`): one
//! `madvise(MADV_POPULATE_WRITE)` per writable segment, then C's own `_start`.
//!
//! Why: before anything else runs, glibc relocates the binary (`_dl_relocate_static_pie`), which
//! writes pointers into nearly every page of the writable segments (the SDK's and TLS stack's
//! vtables and string tables in RELRO: about 66 pages, and `.data`). Each first write to such a
//! page is a copy-on-write fault, about 2 us apiece on the VM this was measured on: the largest
//! part of a cache hit's cost above the spawn floor. Asked for up front, the kernel makes the same
//! private copies in one call per segment, without a trap per page. Nothing else changes: those
//! pages would all have been copied anyway, glibc still applies the relocations and makes RELRO
//! read-only after them, and ASLR is untouched. `.bss` is left alone (never read from the file).
//!
//! It runs before relocation, so it may only use position-independent code and no data that
//! needs relocating: it reads the program headers through `__ehdr_start` (the load address, as
//! glibc's own start-up takes it), and keeps `rsp` and `rdx` (the kernel's `rtld_fini`) for
//! `_start`. A kernel without `MADV_POPULATE_WRITE` (before 5.14) answers EINVAL, which is ignored:
//! the faults then happen one by one, as without this.

// Built only where build.rs names it as the entry point: x86_64 glibc with `+crt-static`, which
// is static-pie (.cargo/config.toml). A dynamic build is relocated by the loader before any entry
// point of the program runs, so there is nothing to do there.
#[cfg(all(
    target_arch = "x86_64",
    target_os = "linux",
    target_env = "gnu",
    target_feature = "crt-static"
))]
std::arch::global_asm!(
    ".globl ecr_login_start",
    ".hidden ecr_login_start",
    ".type ecr_login_start, @function",
    "ecr_login_start:",
    // r8 = rtld_fini, r9 = load address (the ELF header), r10 = program header, r11d = count.
    "mov r8, rdx",
    "lea r9, [rip + __ehdr_start]",
    "mov rax, qword ptr [r9 + 32]",
    "lea r10, [r9 + rax]",
    "movzx r11d, word ptr [r9 + 56]",
    "2:",
    "test r11d, r11d",
    "jz 4f",
    // A PT_LOAD (1) with PF_W (2) set.
    "cmp dword ptr [r10], 1",
    "jne 3f",
    "test dword ptr [r10 + 4], 2",
    "jz 3f",
    // Whole pages of the part read from the file (not .bss), rounded down at both ends as
    // glibc rounds the RELRO segment it protects; the kernel has already written the partial
    // last page (it zeroes the tail).
    "mov rdi, qword ptr [r10 + 16]",
    "add rdi, r9",
    "mov rsi, qword ptr [r10 + 32]",
    "add rsi, rdi",
    "and rdi, -4096",
    "and rsi, -4096",
    "sub rsi, rdi",
    "jbe 3f",
    // madvise(start, length, MADV_POPULATE_WRITE); the result does not matter. `syscall`
    // clobbers rcx and r11, so the count is kept across it.
    "mov edx, 23",
    "mov eax, 28",
    "push r11",
    "syscall",
    "pop r11",
    "3:",
    // sizeof(Elf64_Phdr)
    "add r10, 56",
    "dec r11d",
    "jmp 2b",
    "4:",
    "mov rdx, r8",
    "jmp _start",
    ".size ecr_login_start, . - ecr_login_start",
);
