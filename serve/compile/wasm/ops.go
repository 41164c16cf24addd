package wasm

// Op is an instruction opcode. Single-byte opcodes are their own value.
// Opcodes behind a prefix byte are 0xFC00|n (the "misc" prefix: trunc_sat,
// bulk memory) and 0xFD00|n (128-bit SIMD); n is encoded as an unsigned
// LEB128 after the prefix.
//
// Code.Op emits the opcodes that take no immediate. Memory accesses go
// through Code.Mem, lane accesses through Code.Lane; the instructions with
// other immediates have their own methods (Block, Br, LocalGet, I32Const,
// MemoryCopy, ...).
type Op uint16

// Control and parametric instructions without immediates.
const (
	Unreachable Op = 0x00
	Nop         Op = 0x01
	Return      Op = 0x0F
	Drop        Op = 0x1A
	Select      Op = 0x1B
)

// Memory loads and stores, for Code.Mem and Code.MemAlign.
const (
	I32Load    Op = 0x28
	I64Load    Op = 0x29
	F32Load    Op = 0x2A
	F64Load    Op = 0x2B
	I32Load8S  Op = 0x2C
	I32Load8U  Op = 0x2D
	I32Load16S Op = 0x2E
	I32Load16U Op = 0x2F
	I64Load8S  Op = 0x30
	I64Load8U  Op = 0x31
	I64Load16S Op = 0x32
	I64Load16U Op = 0x33
	I64Load32S Op = 0x34
	I64Load32U Op = 0x35
	I32Store   Op = 0x36
	I64Store   Op = 0x37
	F32Store   Op = 0x38
	F64Store   Op = 0x39
	I32Store8  Op = 0x3A
	I32Store16 Op = 0x3B
	I64Store8  Op = 0x3C
	I64Store16 Op = 0x3D
	I64Store32 Op = 0x3E
)

// i32 comparisons and arithmetic.
const (
	I32Eqz    Op = 0x45
	I32Eq     Op = 0x46
	I32Ne     Op = 0x47
	I32LtS    Op = 0x48
	I32LtU    Op = 0x49
	I32GtS    Op = 0x4A
	I32GtU    Op = 0x4B
	I32LeS    Op = 0x4C
	I32LeU    Op = 0x4D
	I32GeS    Op = 0x4E
	I32GeU    Op = 0x4F
	I32Clz    Op = 0x67
	I32Ctz    Op = 0x68
	I32Popcnt Op = 0x69
	I32Add    Op = 0x6A
	I32Sub    Op = 0x6B
	I32Mul    Op = 0x6C
	I32DivS   Op = 0x6D
	I32DivU   Op = 0x6E
	I32RemS   Op = 0x6F
	I32RemU   Op = 0x70
	I32And    Op = 0x71
	I32Or     Op = 0x72
	I32Xor    Op = 0x73
	I32Shl    Op = 0x74
	I32ShrS   Op = 0x75
	I32ShrU   Op = 0x76
	I32Rotl   Op = 0x77
	I32Rotr   Op = 0x78
)

// i64 comparisons and arithmetic.
const (
	I64Eqz    Op = 0x50
	I64Eq     Op = 0x51
	I64Ne     Op = 0x52
	I64LtS    Op = 0x53
	I64LtU    Op = 0x54
	I64GtS    Op = 0x55
	I64GtU    Op = 0x56
	I64LeS    Op = 0x57
	I64LeU    Op = 0x58
	I64GeS    Op = 0x59
	I64GeU    Op = 0x5A
	I64Clz    Op = 0x79
	I64Ctz    Op = 0x7A
	I64Popcnt Op = 0x7B
	I64Add    Op = 0x7C
	I64Sub    Op = 0x7D
	I64Mul    Op = 0x7E
	I64DivS   Op = 0x7F
	I64DivU   Op = 0x80
	I64RemS   Op = 0x81
	I64RemU   Op = 0x82
	I64And    Op = 0x83
	I64Or     Op = 0x84
	I64Xor    Op = 0x85
	I64Shl    Op = 0x86
	I64ShrS   Op = 0x87
	I64ShrU   Op = 0x88
	I64Rotl   Op = 0x89
	I64Rotr   Op = 0x8A
)

// f32 comparisons and arithmetic.
const (
	F32Eq       Op = 0x5B
	F32Ne       Op = 0x5C
	F32Lt       Op = 0x5D
	F32Gt       Op = 0x5E
	F32Le       Op = 0x5F
	F32Ge       Op = 0x60
	F32Abs      Op = 0x8B
	F32Neg      Op = 0x8C
	F32Ceil     Op = 0x8D
	F32Floor    Op = 0x8E
	F32Trunc    Op = 0x8F
	F32Nearest  Op = 0x90
	F32Sqrt     Op = 0x91
	F32Add      Op = 0x92
	F32Sub      Op = 0x93
	F32Mul      Op = 0x94
	F32Div      Op = 0x95
	F32Min      Op = 0x96
	F32Max      Op = 0x97
	F32Copysign Op = 0x98
)

// f64 comparisons and arithmetic.
const (
	F64Eq       Op = 0x61
	F64Ne       Op = 0x62
	F64Lt       Op = 0x63
	F64Gt       Op = 0x64
	F64Le       Op = 0x65
	F64Ge       Op = 0x66
	F64Abs      Op = 0x99
	F64Neg      Op = 0x9A
	F64Ceil     Op = 0x9B
	F64Floor    Op = 0x9C
	F64Trunc    Op = 0x9D
	F64Nearest  Op = 0x9E
	F64Sqrt     Op = 0x9F
	F64Add      Op = 0xA0
	F64Sub      Op = 0xA1
	F64Mul      Op = 0xA2
	F64Div      Op = 0xA3
	F64Min      Op = 0xA4
	F64Max      Op = 0xA5
	F64Copysign Op = 0xA6
)

// Conversions. The Trunc* conversions trap on NaN and out-of-range
// inputs; the TruncSat* ones saturate instead (NaN becomes 0).
const (
	I32WrapI64        Op = 0xA7
	I32TruncF32S      Op = 0xA8
	I32TruncF32U      Op = 0xA9
	I32TruncF64S      Op = 0xAA
	I32TruncF64U      Op = 0xAB
	I64ExtendI32S     Op = 0xAC
	I64ExtendI32U     Op = 0xAD
	I64TruncF32S      Op = 0xAE
	I64TruncF32U      Op = 0xAF
	I64TruncF64S      Op = 0xB0
	I64TruncF64U      Op = 0xB1
	F32ConvertI32S    Op = 0xB2
	F32ConvertI32U    Op = 0xB3
	F32ConvertI64S    Op = 0xB4
	F32ConvertI64U    Op = 0xB5
	F32DemoteF64      Op = 0xB6
	F64ConvertI32S    Op = 0xB7
	F64ConvertI32U    Op = 0xB8
	F64ConvertI64S    Op = 0xB9
	F64ConvertI64U    Op = 0xBA
	F64PromoteF32     Op = 0xBB
	I32ReinterpretF32 Op = 0xBC
	I64ReinterpretF64 Op = 0xBD
	F32ReinterpretI32 Op = 0xBE
	F64ReinterpretI64 Op = 0xBF
	I32Extend8S       Op = 0xC0
	I32Extend16S      Op = 0xC1
	I64Extend8S       Op = 0xC2
	I64Extend16S      Op = 0xC3
	I64Extend32S      Op = 0xC4
	I32TruncSatF32S   Op = 0xFC00
	I32TruncSatF32U   Op = 0xFC01
	I32TruncSatF64S   Op = 0xFC02
	I32TruncSatF64U   Op = 0xFC03
	I64TruncSatF32S   Op = 0xFC04
	I64TruncSatF32U   Op = 0xFC05
	I64TruncSatF64S   Op = 0xFC06
	I64TruncSatF64U   Op = 0xFC07
)

// A subset of the 128-bit SIMD instructions: whole-vector memory access
// (Code.Mem), splats, lane access (Code.Lane) and lane-wise arithmetic.
// Use Code.V128Const for constants.
const (
	V128Load  Op = 0xFD00
	V128Store Op = 0xFD0B

	I32x4Splat Op = 0xFD11
	I64x2Splat Op = 0xFD12
	F32x4Splat Op = 0xFD13
	F64x2Splat Op = 0xFD14

	I32x4ExtractLane Op = 0xFD1B
	I32x4ReplaceLane Op = 0xFD1C
	I64x2ExtractLane Op = 0xFD1D
	I64x2ReplaceLane Op = 0xFD1E
	F32x4ExtractLane Op = 0xFD1F
	F32x4ReplaceLane Op = 0xFD20
	F64x2ExtractLane Op = 0xFD21
	F64x2ReplaceLane Op = 0xFD22

	F32x4Eq Op = 0xFD41
	F32x4Ne Op = 0xFD42
	F32x4Lt Op = 0xFD43
	F32x4Gt Op = 0xFD44
	F32x4Le Op = 0xFD45
	F32x4Ge Op = 0xFD46
	F64x2Eq Op = 0xFD47
	F64x2Ne Op = 0xFD48
	F64x2Lt Op = 0xFD49
	F64x2Gt Op = 0xFD4A
	F64x2Le Op = 0xFD4B
	F64x2Ge Op = 0xFD4C

	V128Not       Op = 0xFD4D
	V128And       Op = 0xFD4E
	V128AndNot    Op = 0xFD4F
	V128Or        Op = 0xFD50
	V128Xor       Op = 0xFD51
	V128Bitselect Op = 0xFD52
	V128AnyTrue   Op = 0xFD53

	F32x4DemoteF64x2Zero Op = 0xFD5E
	F64x2PromoteLowF32x4 Op = 0xFD5F

	F32x4Ceil    Op = 0xFD67
	F32x4Floor   Op = 0xFD68
	F32x4Trunc   Op = 0xFD69
	F32x4Nearest Op = 0xFD6A
	F64x2Ceil    Op = 0xFD74
	F64x2Floor   Op = 0xFD75
	F64x2Trunc   Op = 0xFD7A
	F64x2Nearest Op = 0xFD94

	I32x4Add  Op = 0xFDAE
	I32x4Sub  Op = 0xFDB1
	I32x4Mul  Op = 0xFDB5
	I32x4Shl  Op = 0xFDAB
	I32x4ShrS Op = 0xFDAC
	I32x4ShrU Op = 0xFDAD
	I64x2Add  Op = 0xFDCE
	I64x2Sub  Op = 0xFDD1
	I64x2Mul  Op = 0xFDD5
	I64x2Shl  Op = 0xFDCB
	I64x2ShrS Op = 0xFDCC
	I64x2ShrU Op = 0xFDCD

	F32x4Abs  Op = 0xFDE0
	F32x4Neg  Op = 0xFDE1
	F32x4Sqrt Op = 0xFDE3
	F32x4Add  Op = 0xFDE4
	F32x4Sub  Op = 0xFDE5
	F32x4Mul  Op = 0xFDE6
	F32x4Div  Op = 0xFDE7
	F32x4Min  Op = 0xFDE8
	F32x4Max  Op = 0xFDE9
	F32x4Pmin Op = 0xFDEA
	F32x4Pmax Op = 0xFDEB
	F64x2Abs  Op = 0xFDEC
	F64x2Neg  Op = 0xFDED
	F64x2Sqrt Op = 0xFDEF
	F64x2Add  Op = 0xFDF0
	F64x2Sub  Op = 0xFDF1
	F64x2Mul  Op = 0xFDF2
	F64x2Div  Op = 0xFDF3
	F64x2Min  Op = 0xFDF4
	F64x2Max  Op = 0xFDF5
	F64x2Pmin Op = 0xFDF6
	F64x2Pmax Op = 0xFDF7

	I32x4TruncSatF32x4S     Op = 0xFDF8
	I32x4TruncSatF32x4U     Op = 0xFDF9
	F32x4ConvertI32x4S      Op = 0xFDFA
	F32x4ConvertI32x4U      Op = 0xFDFB
	I32x4TruncSatF64x2SZero Op = 0xFDFC
	I32x4TruncSatF64x2UZero Op = 0xFDFD
	F64x2ConvertLowI32x4S   Op = 0xFDFE
	F64x2ConvertLowI32x4U   Op = 0xFDFF
)

const (
	prefixMisc = 0xFC
	prefixSIMD = 0xFD
)

// memNaturalAlign returns log2 of the access width of a load or store,
// and whether op is one.
func memNaturalAlign(op Op) (uint32, bool) {
	switch op {
	case I32Load8S, I32Load8U, I64Load8S, I64Load8U, I32Store8, I64Store8:
		return 0, true
	case I32Load16S, I32Load16U, I64Load16S, I64Load16U, I32Store16, I64Store16:
		return 1, true
	case I32Load, F32Load, I64Load32S, I64Load32U, I32Store, F32Store, I64Store32:
		return 2, true
	case I64Load, F64Load, I64Store, F64Store:
		return 3, true
	case V128Load, V128Store:
		return 4, true
	}
	return 0, false
}

// laneCount returns the number of lanes of a lane instruction, and whether
// op is one.
func laneCount(op Op) (int, bool) {
	switch op {
	case I32x4ExtractLane, I32x4ReplaceLane, F32x4ExtractLane, F32x4ReplaceLane:
		return 4, true
	case I64x2ExtractLane, I64x2ReplaceLane, F64x2ExtractLane, F64x2ReplaceLane:
		return 2, true
	}
	return 0, false
}

// plainOp reports whether op takes no immediate, so that Code.Op may emit
// it.
func plainOp(op Op) bool {
	switch {
	case op <= 0xFF:
		switch {
		case op == Unreachable, op == Nop, op == Return, op == Drop, op == Select:
			return true
		case op >= I32Eqz && op <= I64Extend32S:
			return true
		}
		return false
	case op>>8 == prefixMisc:
		return op&0xFF <= 7 // the trunc_sat conversions
	case op>>8 == prefixSIMD:
		n := op & 0xFF
		if _, ok := memNaturalAlign(op); ok {
			return false
		}
		if _, ok := laneCount(op); ok {
			return false
		}
		// v128.const and i8x16.shuffle take 16 bytes; 0x15..0x22 are lane
		// accesses; 0x54..0x5D are lane loads and stores; 0x00..0x0B loads.
		return n >= 0x0E && !(n >= 0x15 && n <= 0x22) && !(n >= 0x54 && n <= 0x5D)
	}
	return false
}
