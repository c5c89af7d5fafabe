//! The static-pie binary's ELF entry point (`ecr_login_start`, named by build.rs with `-e`): one
//! `madvise(MADV_POPULATE_WRITE)` over the RELRO segment, then C's own `_start`.
//!
//! Why: before anything else runs, glibc relocates the binary (`_dl_relocate_static_pie`), which
//! writes to every page of the RELRO segment (the SDK's and TLS stack's vtables and string
//! tables: about 66 pages). Each first write is a copy-on-write page fault, about 2 us apiece on
//! the VMs this was measured on, the largest part of a cache hit's cost above the spawn floor.
//! Asked for up front, the kernel makes the same private copies in one call, without a trap per
//! page. Nothing else changes: the pages would all have been copied anyway, glibc still applies
//! the relocations and makes the segment read-only after them, and ASLR is untouched.
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
    // r8 = rtld_fini, r9 = load address (the ELF header), rsi = first program header, ecx = count.
    "mov r8, rdx",
    "lea r9, [rip + __ehdr_start]",
    "mov rax, qword ptr [r9 + 32]",
    "lea rsi, [r9 + rax]",
    "movzx ecx, word ptr [r9 + 56]",
    "2:",
    "test ecx, ecx",
    "jz 4f",
    // PT_GNU_RELRO
    "cmp dword ptr [rsi], 0x6474e552",
    "je 3f",
    // sizeof(Elf64_Phdr)
    "add rsi, 56",
    "dec ecx",
    "jmp 2b",
    "3:",
    // Whole pages only, inside the segment: start rounded up, end down (as glibc protects it).
    "mov rdi, qword ptr [rsi + 16]",
    "add rdi, r9",
    "mov rax, qword ptr [rsi + 40]",
    "lea rsi, [rdi + rax]",
    "add rdi, 4095",
    "and rdi, -4096",
    "and rsi, -4096",
    "sub rsi, rdi",
    "jbe 4f",
    // madvise(start, length, MADV_POPULATE_WRITE); the result does not matter.
    "mov edx, 23",
    "mov eax, 28",
    "syscall",
    "4:",
    "mov rdx, r8",
    "jmp _start",
    ".size ecr_login_start, . - ecr_login_start",
);
