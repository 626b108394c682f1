// SPDX-License-Identifier: MIT
// Reading the unwind rule of one code address from .eh_frame (eh_frame.hpp).
//
// Design notes:
// - The FDE for an address is found by libgcc's _Unwind_Find_FDE (the binary search of
//   .eh_frame_hdr over dl_iterate_phdr that its own unwinder uses), declared weak so a link
//   without it leaves every rule unsupported. The CIE and FDE parsing and the call-frame
//   instructions are ours.
// - Only what the walk follows is kept of a row: the CFA (register and offset) and the rules of
//   rbp and of the return address. Rules for other registers are read past; a rule for rsp itself,
//   or one the walk cannot apply, makes the whole rule unsupported rather than approximate.
// - Every read is bounded by the entry's own length, so a malformed entry ends the parse.
#include "eh_frame.hpp"

#if defined(PMRHEAP_HAVE_UNWIND_TABLES)

#  include <cstring>

#  include "pmrheap/detail/align.hpp"

extern "C" {
struct pmrheap_dwarf_eh_bases {
  void* tbase;
  void* dbase;
  void* func;
};
// libgcc_s and libgcc_eh (GCC_3.0); not in any public header.
const void* _Unwind_Find_FDE(void* pc, pmrheap_dwarf_eh_bases* bases) __attribute__((weak));
}

namespace pmrheap::platform {
namespace {

// DWARF register numbers on x86-64.
constexpr unsigned reg_rbp = 6;
constexpr unsigned reg_rsp = 7;
constexpr unsigned reg_ra = 16;

// ---- reading .eh_frame --------------------------------------------------------------------------

// A bounded reader: a read past `end` sets `bad` and returns 0, so malformed data ends the parse.
struct reader {
  const unsigned char* p;
  const unsigned char* end;
  bool bad = false;

  bool need(std::size_t n) noexcept {
    if (bad || static_cast<std::size_t>(end - p) < n) bad = true;
    return !bad;
  }
  template <class T>
  T fixed() noexcept {
    T v{};
    if (!need(sizeof v)) return v;
    std::memcpy(&v, p, sizeof v);
    p += sizeof v;
    return v;
  }
  std::uint64_t uleb() noexcept {
    std::uint64_t v = 0;
    for (unsigned shift = 0;; shift += 7) {
      if (!need(1) || shift > 63) return bad = true, 0;
      const unsigned char byte = *p++;
      v |= std::uint64_t{byte & 0x7fu} << shift;
      if ((byte & 0x80) == 0) return v;
    }
  }
  std::int64_t sleb() noexcept {
    std::uint64_t v = 0;
    unsigned shift = 0;
    unsigned char byte = 0;
    do {
      if (!need(1) || shift > 63) return bad = true, 0;
      byte = *p++;
      v |= std::uint64_t{byte & 0x7fu} << shift;
      shift += 7;
    } while ((byte & 0x80) != 0);
    if (shift < 64 && (byte & 0x40) != 0) v |= ~std::uint64_t{0} << shift;
    return static_cast<std::int64_t>(v);
  }
  void skip(std::uint64_t n) noexcept {
    if (need(static_cast<std::size_t>(n))) p += n;
  }
  // Passes over a pointer in DW_EH_PE encoding `enc`; its value is never needed here.
  void skip_pointer(unsigned enc) noexcept {
    if (enc == 0xff) return;     // DW_EH_PE_omit
    if ((enc & 0x70) == 0x50) {  // DW_EH_PE_aligned
      skip(pmrheap::detail::align_offset(p, sizeof(void*)));
    }
    switch (enc & 0x0f) {
      case 0x00:
        skip(8);
        break;  // absptr
      case 0x01:
        uleb();
        break;
      case 0x09:
        sleb();
        break;
      case 0x02:
      case 0x0a:
        skip(2);
        break;
      case 0x03:
      case 0x0b:
        skip(4);
        break;
      case 0x04:
      case 0x0c:
        skip(8);
        break;
      default:
        bad = true;
    }
  }
};

// The rules of one row of the call-frame table, for the registers the walk follows.
struct row {
  enum how : std::uint8_t { same, offset, undefined, other };
  unsigned cfa_reg = reg_rsp;
  std::int64_t cfa_offset = 8;
  how rbp = same;
  std::int64_t rbp_offset = 0;
  how ra = offset;
  std::int64_t ra_offset = -8;
  bool cfa_expression = false;
  bool rsp_rule = false;  // a rule for rsp itself: the caller's rsp may not be the CFA
};

struct cie_info {
  std::uint64_t code_align = 1;
  std::int64_t data_align = -8;
  unsigned fde_encoding = 0;
  bool has_z = false;
  const unsigned char* insns = nullptr;
  const unsigned char* insns_end = nullptr;
};

// Reads a length-prefixed entry's length; `false` for the 64-bit form and terminators, which
// compilers do not emit in .eh_frame.
bool entry_length(reader& r, const unsigned char*& entry_end) noexcept {
  const auto len = r.fixed<std::uint32_t>();
  if (r.bad || len == 0 || len == 0xffffffffu) return false;
  entry_end = r.p + len;
  return true;
}

bool parse_cie(const unsigned char* at, cie_info& cie) noexcept {
  reader r{at, at + 16};  // the length first; the entry's own bound after it
  const unsigned char* end = nullptr;
  if (!entry_length(r, end)) return false;
  r.end = end;
  if (r.fixed<std::uint32_t>() != 0) return false;  // a CIE's id is 0 in .eh_frame
  const auto version = r.fixed<std::uint8_t>();
  if (version != 1 && version != 3) return false;
  const auto* augmentation = reinterpret_cast<const char*>(r.p);
  const std::size_t aug_len = strnlen(augmentation, static_cast<std::size_t>(end - r.p));
  r.skip(aug_len + 1);
  cie.code_align = r.uleb();
  cie.data_align = r.sleb();
  const std::uint64_t ra_reg = version == 1 ? r.fixed<std::uint8_t>() : r.uleb();
  if (r.bad || ra_reg != reg_ra) return false;
  if (aug_len > 0) {
    if (augmentation[0] != 'z') return false;  // an old "eh" augmentation or an unknown one
    cie.has_z = true;
    const std::uint64_t data_len = r.uleb();
    reader data{r.p, r.p, false};
    if (!r.need(static_cast<std::size_t>(data_len))) return false;
    data.end = r.p + data_len;
    for (std::size_t i = 1; i < aug_len && !data.bad; ++i) {
      switch (augmentation[i]) {
        case 'R':
          cie.fde_encoding = data.fixed<std::uint8_t>();
          break;
        case 'P':
          data.skip_pointer(data.fixed<std::uint8_t>());
          break;
        case 'L':
          data.fixed<std::uint8_t>();
          break;
        case 'S':
          return false;  // a signal frame: the return address is not after a call
        default:
          i = aug_len;
          break;  // unknown letters end the known ones; 'z' gave the length
      }
    }
    if (data.bad) return false;
    r.p = data.end;
  }
  cie.insns = r.p;
  cie.insns_end = end;
  return !r.bad;
}

// The call-frame instructions (DWARF 5, section 6.4.2; the GNU ones from gcc's dwarf2.def).
namespace cfa {
enum op : unsigned char {
  advance_loc = 0x40,  // the top two bits; the low six are the operand
  offset = 0x80,
  restore = 0xc0,
  nop = 0x00,
  advance_loc1 = 0x02,
  advance_loc2 = 0x03,
  advance_loc4 = 0x04,
  offset_extended = 0x05,
  restore_extended = 0x06,
  undefined = 0x07,
  same_value = 0x08,
  register_ = 0x09,
  remember_state = 0x0a,
  restore_state = 0x0b,
  def_cfa = 0x0c,
  def_cfa_register = 0x0d,
  def_cfa_offset = 0x0e,
  def_cfa_expression = 0x0f,
  expression = 0x10,
  offset_extended_sf = 0x11,
  def_cfa_sf = 0x12,
  def_cfa_offset_sf = 0x13,
  val_offset = 0x14,
  val_offset_sf = 0x15,
  val_expression = 0x16,
  gnu_args_size = 0x2e,
  gnu_negative_offset_extended = 0x2f,
};
}  // namespace cfa

// Runs call-frame instructions until the row for `target` (relative to the function's start) is
// in `state`. `loc` carries on from the CIE's initial instructions to the FDE's.
bool run(const unsigned char* p, const unsigned char* end, const cie_info& cie, const row& initial, row& state,
         std::uint64_t& loc, std::uint64_t target) noexcept {
  constexpr std::size_t max_remembered = 8;
  row remembered[max_remembered];
  std::size_t depth = 0;
  reader r{p, end};
  auto set_reg = [&](std::uint64_t reg, row::how how, std::int64_t off) {
    if (reg == reg_rbp) {
      state.rbp = how;
      state.rbp_offset = off;
    } else if (reg == reg_ra) {
      state.ra = how;
      state.ra_offset = off;
    } else if (reg == reg_rsp) {
      state.rsp_rule = true;
    }
  };
  auto restore_reg = [&](std::uint64_t reg) {
    if (reg == reg_rbp) {
      state.rbp = initial.rbp;
      state.rbp_offset = initial.rbp_offset;
    } else if (reg == reg_ra) {
      state.ra = initial.ra;
      state.ra_offset = initial.ra_offset;
    }
  };
  auto advance = [&](std::uint64_t delta) { loc += delta * cie.code_align; };
  while (r.p < r.end && !r.bad) {
    const unsigned char op = r.fixed<std::uint8_t>();
    const unsigned low = op & 0x3f;
    switch (op & 0xc0) {
      case cfa::advance_loc:
        advance(low);
        if (loc > target) return true;
        continue;
      case cfa::offset:
        set_reg(low, row::offset, static_cast<std::int64_t>(r.uleb()) * cie.data_align);
        continue;
      case cfa::restore:
        restore_reg(low);
        continue;
      default:
        break;
    }
    switch (op) {
      case cfa::nop:
        break;
      case cfa::advance_loc1:
        advance(r.fixed<std::uint8_t>());
        if (loc > target) return true;
        break;
      case cfa::advance_loc2:
        advance(r.fixed<std::uint16_t>());
        if (loc > target) return true;
        break;
      case cfa::advance_loc4:
        advance(r.fixed<std::uint32_t>());
        if (loc > target) return true;
        break;
      case cfa::offset_extended: {
        const auto reg = r.uleb();
        set_reg(reg, row::offset, static_cast<std::int64_t>(r.uleb()) * cie.data_align);
        break;
      }
      case cfa::restore_extended:
        restore_reg(r.uleb());
        break;
      case cfa::undefined:
        set_reg(r.uleb(), row::undefined, 0);
        break;
      case cfa::same_value:
        set_reg(r.uleb(), row::same, 0);
        break;
      case cfa::register_: {  // the value lives in another register, which the walk does not follow
        const auto reg = r.uleb();
        r.uleb();
        set_reg(reg, row::other, 0);
        break;
      }
      case cfa::remember_state:
        if (depth == max_remembered) return false;
        remembered[depth++] = state;
        break;
      case cfa::restore_state: {
        if (depth == 0) return false;
        // The CFA comes back too, as in libgcc and libunwind: gcc remembers the state before an
        // epilogue that pops the frame and restores it for the code after the `ret`.
        state = remembered[--depth];
        break;
      }
      case cfa::def_cfa:
        state.cfa_reg = static_cast<unsigned>(r.uleb());
        state.cfa_offset = static_cast<std::int64_t>(r.uleb());
        state.cfa_expression = false;
        break;
      case cfa::def_cfa_register:
        state.cfa_reg = static_cast<unsigned>(r.uleb());
        state.cfa_expression = false;
        break;
      case cfa::def_cfa_offset:
        state.cfa_offset = static_cast<std::int64_t>(r.uleb());
        break;
      case cfa::def_cfa_expression:
        state.cfa_expression = true;
        r.skip(r.uleb());
        break;
      case cfa::expression:
      case cfa::val_expression: {
        const auto reg = r.uleb();
        r.skip(r.uleb());
        set_reg(reg, row::other, 0);
        break;
      }
      case cfa::offset_extended_sf: {
        const auto reg = r.uleb();
        set_reg(reg, row::offset, r.sleb() * cie.data_align);
        break;
      }
      case cfa::def_cfa_sf:
        state.cfa_reg = static_cast<unsigned>(r.uleb());
        state.cfa_offset = r.sleb() * cie.data_align;
        state.cfa_expression = false;
        break;
      case cfa::def_cfa_offset_sf:
        state.cfa_offset = r.sleb() * cie.data_align;
        break;
      case cfa::val_offset: {  // the register's value is an address, not one saved there
        const auto reg = r.uleb();
        r.uleb();
        set_reg(reg, row::other, 0);
        break;
      }
      case cfa::val_offset_sf: {
        const auto reg = r.uleb();
        r.sleb();
        set_reg(reg, row::other, 0);
        break;
      }
      case cfa::gnu_args_size:  // for landing pads only
        r.uleb();
        break;
      case cfa::gnu_negative_offset_extended: {
        const auto reg = r.uleb();
        set_reg(reg, row::offset, -static_cast<std::int64_t>(r.uleb()) * cie.data_align);
        break;
      }
      default:
        return false;  // set_loc and the rest: not emitted by gcc or clang on x86-64
    }
  }
  return !r.bad;
}

// Finds the rule for `address` (a return address - 1, or an address inside the walk itself).
}  // namespace

unwind_rule read_unwind_rule(std::uintptr_t address) noexcept {
  unwind_rule rule;
  rule.address = address;
  rule.kind = rule_unsupported;
  if (&_Unwind_Find_FDE == nullptr) return rule;
  pmrheap_dwarf_eh_bases bases{};
  const auto* fde = static_cast<const unsigned char*>(_Unwind_Find_FDE(reinterpret_cast<void*>(address), &bases));
  const auto func = reinterpret_cast<std::uintptr_t>(bases.func);
  if (fde == nullptr || func == 0 || address < func) return rule;

  reader r{fde, fde + 8};
  const unsigned char* end = nullptr;
  if (!entry_length(r, end)) return rule;
  r.end = end;
  const unsigned char* const id_at = r.p;
  const auto cie_offset = r.fixed<std::uint32_t>();
  if (r.bad || cie_offset == 0) return rule;
  cie_info cie;
  if (!parse_cie(id_at - cie_offset, cie)) return rule;
  r.skip_pointer(cie.fde_encoding);         // pc_begin: bases.func has it
  r.skip_pointer(cie.fde_encoding & 0x0f);  // pc_range
  if (cie.has_z) r.skip(r.uleb());
  if (r.bad) return rule;

  row initial;
  std::uint64_t loc = 0;
  const std::uint64_t target = address - func;
  if (!run(cie.insns, cie.insns_end, cie, initial, initial, loc, ~std::uint64_t{0})) return rule;
  row state = initial;
  loc = 0;
  if (!run(r.p, end, cie, initial, state, loc, target)) return rule;

  if (state.ra == row::undefined) {
    rule.kind = rule_outermost;
    return rule;
  }
  const bool cfa_ok = !state.cfa_expression && (state.cfa_reg == reg_rsp || state.cfa_reg == reg_rbp) &&
                      state.cfa_offset >= 8 && state.cfa_offset <= INT32_MAX;
  const bool ra_ok = state.ra == row::offset && state.ra_offset == -8;
  const bool rbp_ok =
      state.rbp == row::same || (state.rbp == row::offset && state.rbp_offset < 0 && state.rbp_offset >= INT16_MIN);
  if (!cfa_ok || !ra_ok || !rbp_ok || state.rsp_rule) return rule;
  rule.cfa_offset = static_cast<std::int32_t>(state.cfa_offset);
  rule.cfa_from_rbp = state.cfa_reg == reg_rbp ? 1 : 0;
  rule.rbp_offset = state.rbp == row::offset ? static_cast<std::int16_t>(state.rbp_offset) : std::int16_t{0};
  rule.kind = rule_step;
  return rule;
}

bool eh_frame_linked() noexcept { return &_Unwind_Find_FDE != nullptr; }

}  // namespace pmrheap::platform

#endif  // PMRHEAP_HAVE_UNWIND_TABLES
