/* Backtraces for crash reports; see unwind.h. */
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include <dlfcn.h>

#include "elf.h"
#include "log.h"
#include "maps.h"
#include "unwind.h"

#define CARRY__FRAMES 64

/* libunwind's names are macros (unw_step is _ULx86_64_step): dlsym needs
 * them expanded. */
#define CARRY__STR(x) CARRY__STR_(x)
#define CARRY__STR_(x) #x

static struct {
    __typeof__(unw_init_local2) *init;
    __typeof__(unw_step) *step;
    __typeof__(unw_get_reg) *get_reg;
    __typeof__(unw_is_signal_frame) *is_signal_frame;
} carry__unw;

/* Opened privately rather than linked: libunwind.so.8 also defines the
 * _Unwind_* functions of the C++ ABI, which in the global scope would take
 * exception handling over from the host's libgcc_s.  RTLD_NOW: no lazy
 * binding left to do inside a signal handler. */
void carry__unwind_load(void)
{
    void *lib = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        carry__debug(1, "crash reports come without backtraces: %s", dlerror());
        return;
    }
    carry__unw.step = (__typeof__(carry__unw.step))dlsym(lib, CARRY__STR(unw_step));
    carry__unw.get_reg = (__typeof__(carry__unw.get_reg))dlsym(lib, CARRY__STR(unw_get_reg));
    carry__unw.is_signal_frame =
        (__typeof__(carry__unw.is_signal_frame))dlsym(lib, CARRY__STR(unw_is_signal_frame));
    if (carry__unw.step && carry__unw.get_reg && carry__unw.is_signal_frame)
        carry__unw.init = (__typeof__(carry__unw.init))dlsym(lib, CARRY__STR(unw_init_local2));
}

/* "carry:   #N 0x<pc> function+0xOFF (object+0xADDR)" per frame, ADDR as
 * addr2line takes it.  Names come from the objects' symbol tables (elf.c),
 * not from libunwind, whose unw_get_proc_name mallocs. */
void carry__unwind_report(struct carry__out *o, ucontext_t *uc)
{
    unw_cursor_t cursor;
    if (carry__unw.init == NULL ||
        carry__unw.init(&cursor, (unw_context_t *)uc, UNW_INIT_SIGNAL_FRAME) < 0) {
        carry__out(o, "carry: no backtrace (libunwind.so.8 is not available)");
        carry__out_end(o);
        return;
    }
    carry__out(o, "carry: backtrace:");
    carry__out_end(o);
    struct carry__elf file = {.map = NULL};
    /* The first pc is the interrupted instruction, as is one a signal
     * frame saved; the others are return addresses, looked up one byte
     * back so that a call at the very end of a function names it. */
    unsigned back = 0;
    int frame = 0;
    for (; frame < CARRY__FRAMES; frame++) {
        unw_word_t pc;
        if (carry__unw.get_reg(&cursor, UNW_REG_IP, &pc) < 0)
            break;
        carry__out(o, "carry:   #");
        carry__out_dec(o, frame);
        carry__out(o, " 0x");
        carry__out_hex(o, pc, 16);
        char path[512], name[256];
        uintptr_t file_off;
        uint64_t addr, off;
        if (carry__maps_find(pc - back, path, sizeof path, &file_off)) {
            bool elf = carry__elf_address(&file, path, file_off, &addr);
            if (elf && carry__elf_symbol(&file, addr, name, sizeof name, &off)) {
                carry__out(o, " ");
                carry__out(o, name);
                carry__out(o, "+0x");
                carry__out_hex(o, off + back, 1);
            }
            carry__out(o, " (");
            carry__out(o, path);
            carry__out(o, elf ? "+0x" : ", file offset 0x");
            carry__out_hex(o, (elf ? addr : file_off) + back, 1);
            carry__out(o, ")");
        }
        carry__out_end(o);
        back = carry__unw.is_signal_frame(&cursor) > 0 ? 0 : 1;
        if (carry__unw.step(&cursor) <= 0)
            break;
    }
    carry__elf_close(&file);
    if (frame == CARRY__FRAMES) {
        carry__out(o, "carry:   ... (more frames not shown)");
        carry__out_end(o);
    }
}
