package search

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// parser is a scanner over src with one method per grammar rule. Scanning is
// context-dependent (an identifier, an operator and a value are lexed
// differently), so there is no separate token stream.
type parser struct {
	src    string
	pos    int
	spec   *entitySpec
	entity Entity
	cstart int // where the current clause began, for messages
}

func (p *parser) eof() bool { return p.pos >= len(p.src) }

// peek returns the rune at the cursor, or -1 at the end.
func (p *parser) peek() rune {
	if p.eof() {
		return -1
	}
	r, _ := utf8.DecodeRuneInString(p.src[p.pos:])
	return r
}

// peekAt returns the rune n bytes past the cursor, or -1.
func (p *parser) peekAt(n int) rune {
	if p.pos+n >= len(p.src) || p.pos+n < 0 {
		return -1
	}
	r, _ := utf8.DecodeRuneInString(p.src[p.pos+n:])
	return r
}

func (p *parser) advance() {
	if p.eof() {
		return
	}
	_, n := utf8.DecodeRuneInString(p.src[p.pos:])
	p.pos += n
}

func (p *parser) skipSpace() {
	for !p.eof() && unicode.IsSpace(p.peek()) {
		p.advance()
	}
}

// isWordRune reports whether r may appear in a bare word (keyword, prefix,
// attribute name or key segment).
func isWordRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// word scans a run of word runes; it returns "" if none is at the cursor.
func (p *parser) word() string {
	start := p.pos
	for !p.eof() && isWordRune(p.peek()) {
		p.advance()
	}
	return p.src[start:p.pos]
}

// rest returns the source from pos, shortened for messages.
func (p *parser) rest(pos int) string {
	if pos > len(p.src) {
		pos = len(p.src)
	}
	return shorten(p.src[pos:])
}

// quoted scans a string delimited by q, the cursor being on the opening quote.
// Inside, a doubled quote or a backslash before the quote stands for the
// quote itself, and a doubled backslash for one backslash; any other
// backslash is literal.
func (p *parser) quoted(q byte) (string, error) {
	start := p.pos
	p.pos++ // opening quote
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == q:
			if p.pos+1 < len(p.src) && p.src[p.pos+1] == q {
				b.WriteByte(q)
				p.pos += 2
				continue
			}
			p.pos++
			return b.String(), nil
		case c == '\\' && q != '`' && p.pos+1 < len(p.src) && (p.src[p.pos+1] == q || p.src[p.pos+1] == '\\'):
			b.WriteByte(p.src[p.pos+1])
			p.pos += 2
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	return "", errorf("Unterminated quoted string at position %d in '%s'", start, shorten(p.src))
}

func isQuote(r rune) bool { return r == '`' || r == '"' || r == '\'' }

// identifier = segment [ "." key ]
// segment    = word | "`" text "`" | '"' text '"'
// key        = ( word | "." ) { word | "." } | "`" text "`" | '"' text '"'
//
// The first dot separates the prefix; later dots belong to the key, so
// metrics.a.b is the metric "a.b".
func (p *parser) identifier() (identifier, error) {
	start := p.pos
	bad := func(why string) (identifier, error) {
		return identifier{}, errorf("Invalid identifier '%s'. %s", p.rest(start), why)
	}
	var first string
	quotedFirst := false
	switch r := p.peek(); {
	case r == '`' || r == '"':
		s, err := p.quoted(byte(r))
		if err != nil {
			return identifier{}, err
		}
		first, quotedFirst = s, true
	case r == '\'':
		return bad("Identifiers are quoted with backticks or double quotes, not single quotes.")
	case isWordRune(r):
		first = p.word()
	default:
		return bad("Expected an identifier such as 'metrics.<key>', 'params.<key>', 'tags.<key>' or an attribute name.")
	}
	id := identifier{key: first}
	if p.peek() == '.' {
		p.pos++
		id.prefix, id.hasPrefix = first, true
		switch r := p.peek(); {
		case r == '`' || r == '"':
			s, err := p.quoted(byte(r))
			if err != nil {
				return identifier{}, err
			}
			id.key = s
		case isWordRune(r) || r == '.':
			ks := p.pos
			for !p.eof() && (isWordRune(p.peek()) || p.peek() == '.') {
				p.advance()
			}
			id.key = p.src[ks:p.pos]
		default:
			return bad("Expected a key after the '.'.")
		}
	} else if quotedFirst && first == "" {
		return bad("The key is empty.")
	}
	if id.hasPrefix && id.key == "" {
		return bad("The key is empty.")
	}
	// A quote or a further dot glued to the identifier (tags.a`b`, "x".y.z)
	// is not part of the grammar.
	if r := p.peek(); isQuote(r) || r == '.' {
		return bad("Quote keys that contain special characters, e.g. metrics.`my-key`.")
	}
	id.text = p.src[start:p.pos]
	return id, nil
}

// operator parses a comparator and returns it in canonical form.
func (p *parser) operator(id identifier) (string, error) {
	start := p.pos
	if p.eof() {
		return "", errorf("Invalid comparison clause '%s'. Expected a comparator after the identifier.", shorten(id.text))
	}
	r := p.peek()
	if strings.ContainsRune("=!<>", r) {
		for !p.eof() && strings.ContainsRune("=!<>", p.peek()) {
			p.pos++
		}
		op := p.src[start:p.pos]
		switch op {
		case "=", "!=", "<", "<=", ">", ">=":
			return op, nil
		}
		return "", errorf("Invalid comparator '%s' in clause '%s'", shorten(op), p.clauseText())
	}
	if !isWordRune(r) {
		return "", errorf("Invalid comparison clause '%s'. Expected a comparator after '%s'. Quote keys that contain special characters, e.g. metrics.`my-key`.", p.rest(p.cstart), shorten(id.text))
	}
	w := strings.ToUpper(p.word())
	switch w {
	case "LIKE", "ILIKE", "IN":
		return w, nil
	case "NOT":
		p.skipSpace()
		if strings.ToUpper(p.word()) == "IN" {
			return "NOT IN", nil
		}
	case "IS":
		p.skipSpace()
		switch strings.ToUpper(p.word()) {
		case "NULL":
			return "IS NULL", nil
		case "NOT":
			p.skipSpace()
			if strings.ToUpper(p.word()) == "NULL" {
				return "IS NOT NULL", nil
			}
		}
	}
	return "", errorf("Invalid comparator '%s' in clause '%s'", shorten(strings.TrimSpace(p.src[start:p.pos])), p.clauseText())
}

// clauseText returns the current clause up to the cursor, for messages.
func (p *parser) clauseText() string {
	if p.cstart > p.pos || p.pos > len(p.src) {
		return ""
	}
	return shorten(strings.TrimSpace(p.src[p.cstart:p.pos]))
}

// value = string | number | "(" string { "," string } [","] ")" | word
func (p *parser) value(id identifier, op string) (rawValue, error) {
	start := p.pos
	if p.eof() {
		return rawValue{}, errorf("Invalid comparison clause. Expected a value after '%s %s'.", shorten(id.text), op)
	}
	r := p.peek()
	switch {
	case r == '\'' || r == '"':
		s, err := p.quoted(byte(r))
		if err != nil {
			return rawValue{}, err
		}
		return rawValue{kind: rawString, str: s, text: p.src[start:p.pos]}, nil
	case r == '(':
		return p.list(id, op)
	case r == '-' || (r >= '0' && r <= '9') || (r == '.' && isDigit(p.peekAt(1))):
		return p.number()
	case r == '`':
		if _, err := p.quoted('`'); err != nil {
			return rawValue{}, err
		}
		return rawValue{kind: rawWord, text: p.src[start:p.pos]}, nil
	case isWordRune(r):
		w := p.word()
		if u := strings.ToUpper(w); u == "AND" || u == "OR" {
			return rawValue{}, errorf("Invalid comparison clause '%s'. Expected a value after '%s %s'.", p.clauseText(), shorten(id.text), op)
		}
		return rawValue{kind: rawWord, str: w, text: w}, nil
	}
	return rawValue{}, errorf("Invalid comparison clause '%s %s %s'. Expected a value.", shorten(id.text), op, p.rest(start))
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

// number = ["-"] ( digits ["." {digit}] | "." digits ) [ ("e"|"E") ["+"|"-"] digits ]
func (p *parser) number() (rawValue, error) {
	start := p.pos
	bad := func() (rawValue, error) {
		end := p.pos
		for end < len(p.src) && !unicode.IsSpace(rune(p.src[end])) {
			end++
		}
		return rawValue{}, errorf("Invalid numeric value '%s'", shorten(p.src[start:end]))
	}
	digits := func() int {
		n := 0
		for p.pos < len(p.src) && isDigit(rune(p.src[p.pos])) {
			p.pos++
			n++
		}
		return n
	}
	isInt := true
	if p.src[p.pos] == '-' {
		p.pos++
	}
	n := digits()
	if p.pos < len(p.src) && p.src[p.pos] == '.' {
		isInt = false
		p.pos++
		n += digits()
	}
	if n == 0 {
		return bad()
	}
	if p.pos < len(p.src) && (p.src[p.pos] == 'e' || p.src[p.pos] == 'E') {
		isInt = false
		p.pos++
		if p.pos < len(p.src) && (p.src[p.pos] == '+' || p.src[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return bad()
		}
	}
	// A number must end at a delimiter: 1abc, 0x1F and 1.2.3 are not numbers.
	if r := p.peek(); isWordRune(r) || r == '.' || isQuote(r) {
		return bad()
	}
	text := p.src[start:p.pos]
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		// Out-of-range values come back as ±Inf with ErrRange, like Python's float().
		if ne, ok := err.(*strconv.NumError); !ok || ne.Err != strconv.ErrRange {
			return bad()
		}
	}
	return rawValue{kind: rawNumber, num: f, isInt: isInt, text: text}, nil
}

// list parses ( 'a', "b", ... ) with an optional trailing comma.
func (p *parser) list(id identifier, op string) (rawValue, error) {
	start := p.pos
	p.pos++ // (
	illFormed := func() (rawValue, error) {
		return rawValue{}, errorf("While parsing a list in the query, expected a non-empty list of string values, but got ill-formed list: '%s'", p.rest(start))
	}
	var items []string
	for {
		p.skipSpace()
		switch r := p.peek(); {
		case r == ')':
			p.pos++
			if len(items) == 0 {
				return rawValue{}, errorf("While parsing a list in the query, expected a non-empty list of string values, but got empty list")
			}
			return rawValue{kind: rawList, list: items, text: p.src[start:p.pos]}, nil
		case r == '\'' || r == '"':
			s, err := p.quoted(byte(r))
			if err != nil {
				return rawValue{}, err
			}
			items = append(items, s)
		case r == -1:
			return illFormed()
		default:
			if len(items) == 0 && r != ',' {
				return rawValue{}, errorf("While parsing a list in the query, expected string value, punctuation, or whitespace, but got different type in list: '%s'", p.rest(start))
			}
			return illFormed()
		}
		p.skipSpace()
		switch p.peek() {
		case ',':
			p.pos++
		case ')':
		default:
			return illFormed()
		}
	}
}
