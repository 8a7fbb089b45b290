package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Presets of the configurable scheme: WEBHOOK_SCHEME_<NAME>=<preset>.
const (
	SchemeShopify Scheme = "shopify" // X-Shopify-Hmac-Sha256: base64 HMAC-SHA256 of the body
	SchemeSlack   Scheme = "slack"   // X-Slack-Signature: v0=<hex> of v0:{ts}:{body}
	SchemeGitLab  Scheme = "gitlab"  // X-Gitlab-Token: the secret itself
	SchemeLinear  Scheme = "linear"  // Linear-Signature: hex of the body; webhookTimestamp in the body
	SchemePaddle  Scheme = "paddle"  // Paddle-Signature: ts=<unix>;h1=<hex> of {ts}:{body}
	SchemeTwilio  Scheme = "twilio"  // X-Twilio-Signature: base64 HMAC-SHA1 of URL + sorted form fields
	SchemeCustom  Scheme = "custom"  // a spec written out in WEBHOOK_SCHEME_<NAME>
	// WEBHOOK_SCHEME_<NAME>=github is the built-in GitHub scheme for one
	// more source (a second GitHub App, say), with SchemeGitHub's name.
)

// presets are written in the same syntax operators use, so each one is
// also an example of a custom spec; init parses them (a typo panics at
// start, and TestPresetsParse says which).
var presets = map[Scheme]string{
	SchemeGitHub:  "header=X-Hub-Signature-256;algorithm=sha256;encoding=hex;prefix=sha256=;event=header:X-GitHub-Event;id=header:X-GitHub-Delivery",
	SchemeShopify: "header=X-Shopify-Hmac-Sha256;algorithm=sha256;encoding=base64;event=header:X-Shopify-Topic;id=header:X-Shopify-Webhook-Id",
	// Events API: event.type (type for url_verification and interactive
	// payloads), event_id; slash commands (a form): command, trigger_id.
	SchemeSlack: "header=X-Slack-Signature;algorithm=sha256;encoding=hex;prefix=v0=;signed=v0:{timestamp}:{body};timestamp=header:X-Slack-Request-Timestamp;" +
		"event=json:event.type,json:type,json:command;id=json:event_id,json:trigger_id",
	// GitLab sends Idempotency-Key (17.4+, the same on a retry) and
	// X-Gitlab-Event-UUID (older versions).
	SchemeGitLab: "header=X-Gitlab-Token;algorithm=token;event=header:X-Gitlab-Event;id=header:Idempotency-Key,header:X-Gitlab-Event-UUID",
	// Linear signs only the body; its freshness is webhookTimestamp, Unix
	// milliseconds inside the body.
	SchemeLinear: "header=Linear-Signature;algorithm=sha256;encoding=hex;timestamp=json:webhookTimestamp;timestamp-unit=ms;event=header:Linear-Event,json:type;id=header:Linear-Delivery",
	// Several h1 items while a secret is being rotated.
	SchemePaddle: "header=Paddle-Signature;algorithm=sha256;encoding=hex;items=semicolon;prefix=h1=;timestamp=item:ts;signed={timestamp}:{body};event=json:event_type;id=json:event_id",
	// Messaging and voice callbacks carry their status; Conversations and
	// other products an EventType.
	SchemeTwilio: "header=X-Twilio-Signature;algorithm=sha1;encoding=base64;signed={url}{form};" +
		"event=json:EventType,json:MessageStatus,json:CallStatus,json:SmsStatus;id=header:I-Twilio-Idempotency-Token",
}

var parsedPresets = func() map[Scheme]SchemeSpec {
	out := make(map[Scheme]SchemeSpec, len(presets))
	for name, v := range presets {
		s, err := parseSchemeSpec(v, nil)
		if err != nil {
			panic(fmt.Sprintf("webhook: preset %s: %v", name, err))
		}
		s.name = name
		out[name] = s
	}
	return out
}()

// PresetNames lists the presets WEBHOOK_SCHEME_<NAME> accepts, sorted.
func PresetNames() []string {
	out := make([]string, 0, len(presets))
	for n := range presets {
		out = append(out, string(n))
	}
	sort.Strings(out)
	return out
}

// SchemeSpec is a configurable signature scheme: which header carries the
// signature, how it is made (HMAC algorithm, encoding, prefix, what is
// signed, which timestamp and how fresh it must be) and where a delivery's
// event type and id are found. ParseSchemeSpec builds one from the text of
// a WEBHOOK_SCHEME_<NAME> variable; String writes it back in that syntax.
type SchemeSpec struct {
	name      Scheme
	header    string // canonical
	algorithm string // sha1, sha256, sha512, or token (the header is the secret)
	encoding  string // hex or base64; "" for token
	prefix    string // in front of the signature (of each signature item with items)
	items     string // "", comma, semicolon or space: the header is a list of items
	signed    string // template of the signed content; "" for token
	parts     []part
	timestamp field         // zero when nothing is timestamped
	unit      string        // s or ms, when timestamp is set
	tolerance time.Duration // 0: the source's (WEBHOOK_TOLERANCE)
	event     []field
	id        []field
}

// Name is the preset the spec came from, or SchemeCustom.
func (s SchemeSpec) Name() Scheme { return s.name }

// Header is the signature (or token) header.
func (s SchemeSpec) Header() string { return s.header }

type field struct {
	from string // header, json or item
	name string // canonical header name, dotted JSON path, or item key
}

func (f field) String() string { return f.from + ":" + f.name }

// describe is how an error message names where a value was looked for.
func (f field) describe() string {
	switch f.from {
	case "header":
		return "a " + f.name + " header"
	case "json":
		return `"` + f.name + `" in the payload`
	}
	return f.name + "= in the signature header"
}

type part struct {
	token string // body, timestamp, url, form; "" for literal text
	text  string
}

var (
	headerNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
	jsonPathRE   = regexp.MustCompile(`^[A-Za-z0-9_$@-]{1,64}(\.[A-Za-z0-9_$@-]{1,64}){0,7}$`)
	itemKeyRE    = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)
)

var hashes = map[string]struct {
	new  func() hash.Hash
	size int
}{
	"sha1":   {sha1.New, sha1.Size},
	"sha256": {sha256.New, sha256.Size},
	"sha512": {sha512.New, sha512.Size},
}

var itemSeparators = map[string]string{"comma": ",", "semicolon": ";", "space": " "}

// settingOrder is the order String writes settings in.
var settingOrder = []string{"header", "algorithm", "encoding", "prefix", "items", "signed", "timestamp", "timestamp-unit", "tolerance", "event", "id"}

// ParseSchemeSpec parses a WEBHOOK_SCHEME_<NAME> value: a preset name
// ("shopify"), a preset followed by overrides ("slack;tolerance=1m"), or a
// custom spec of semicolon-separated settings:
//
//	header=X-Acme-Signature;algorithm=sha256;encoding=hex;prefix=sha256=;
//	signed={timestamp}.{body};timestamp=header:X-Acme-Timestamp;tolerance=5m;
//	event=header:X-Acme-Event,json:type;id=header:X-Acme-Delivery
//
// Errors are one line saying which setting is wrong and why.
func ParseSchemeSpec(v string) (SchemeSpec, error) {
	return parseSchemeSpec(v, parsedPresets)
}

// parseSchemeSpec is ParseSchemeSpec with the presets it may start from
// (none while the presets themselves are parsed).
func parseSchemeSpec(v string, from map[Scheme]SchemeSpec) (SchemeSpec, error) {
	items := strings.Split(v, ";")
	spec := SchemeSpec{name: SchemeCustom}
	seen := map[string]bool{}
	for i, item := range items {
		item = strings.TrimSpace(item)
		if item == "" {
			return SchemeSpec{}, errors.New("empty setting (settings are separated by single semicolons)")
		}
		key, val, ok := strings.Cut(item, "=")
		if !ok {
			if i > 0 {
				return SchemeSpec{}, fmt.Errorf("%q is not a key=value setting (only the first item may name a preset)", item)
			}
			p, known := from[Scheme(strings.ToLower(item))]
			if !known {
				return SchemeSpec{}, fmt.Errorf("unknown preset %q (presets: %s; or a custom spec such as header=X-Signature;algorithm=sha256;encoding=hex)",
					item, strings.Join(PresetNames(), ", "))
			}
			spec = p.clone()
			continue
		}
		key = strings.ToLower(strings.TrimSpace(key))
		val = strings.TrimSpace(val)
		if !slices.Contains(settingOrder, key) {
			return SchemeSpec{}, fmt.Errorf("unknown setting %q (settings: %s)", key, strings.Join(settingOrder, ", "))
		}
		if seen[key] {
			return SchemeSpec{}, fmt.Errorf("%s is set twice", key)
		}
		seen[key] = true
		if val == "" {
			return SchemeSpec{}, fmt.Errorf("%s is empty", key)
		}
		if err := spec.set(key, val); err != nil {
			return SchemeSpec{}, err
		}
	}
	if err := spec.normalize(seen); err != nil {
		return SchemeSpec{}, err
	}
	return spec, nil
}

func (s SchemeSpec) clone() SchemeSpec {
	s.parts = append([]part(nil), s.parts...)
	s.event = append([]field(nil), s.event...)
	s.id = append([]field(nil), s.id...)
	return s
}

func (s *SchemeSpec) set(key, val string) error {
	switch key {
	case "header":
		if !headerNameRE.MatchString(val) {
			return fmt.Errorf("header %q is not a header name", val)
		}
		s.header = http.CanonicalHeaderKey(val)
	case "algorithm":
		val = strings.ToLower(val)
		if _, ok := hashes[val]; !ok && val != "token" {
			return fmt.Errorf("algorithm %q is not sha1, sha256, sha512 or token", val)
		}
		s.algorithm = val
	case "encoding":
		val = strings.ToLower(val)
		if val != "hex" && val != "base64" {
			return fmt.Errorf("encoding %q is not hex or base64", val)
		}
		s.encoding = val
	case "prefix":
		if len(val) > 32 || !printableASCII(val) {
			return errors.New("prefix must be at most 32 printable ASCII characters")
		}
		s.prefix = val
	case "items":
		val = strings.ToLower(val)
		if _, ok := itemSeparators[val]; !ok {
			return fmt.Errorf("items %q is not comma, semicolon or space", val)
		}
		s.items = val
	case "signed":
		parts, err := parseTemplate(val)
		if err != nil {
			return fmt.Errorf("signed: %w", err)
		}
		s.signed, s.parts = val, parts
	case "timestamp":
		f, err := parseField(val, "header", "item", "json")
		if err != nil {
			return fmt.Errorf("timestamp: %w", err)
		}
		s.timestamp = f
	case "timestamp-unit":
		val = strings.ToLower(val)
		if val != "s" && val != "ms" {
			return fmt.Errorf("timestamp-unit %q is not s (Unix seconds) or ms (milliseconds)", val)
		}
		s.unit = val
	case "tolerance":
		d, err := time.ParseDuration(val)
		if err != nil || d < time.Second || d > 24*time.Hour {
			return fmt.Errorf("tolerance %q is not a duration between 1s and 24h (Go syntax: 30s, 5m)", val)
		}
		s.tolerance = d
	case "event", "id":
		var fs []field
		for _, one := range strings.Split(val, ",") {
			f, err := parseField(strings.TrimSpace(one), "header", "json")
			if err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			fs = append(fs, f)
		}
		if key == "event" {
			s.event = fs
		} else {
			s.id = fs
		}
	default:
		return fmt.Errorf("unknown setting %q (settings: %s)", key, strings.Join(settingOrder, ", "))
	}
	return nil
}

func printableASCII(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < 0x21 || v[i] > 0x7e {
			return false
		}
	}
	return true
}

func parseField(v string, allowed ...string) (field, error) {
	from, name, ok := strings.Cut(v, ":")
	from = strings.ToLower(from)
	known := false
	for _, a := range allowed {
		known = known || a == from
	}
	if !ok || !known {
		return field{}, fmt.Errorf("%q is not %s:<name>", v, strings.Join(allowed, ":<name>, "))
	}
	switch from {
	case "header":
		if !headerNameRE.MatchString(name) {
			return field{}, fmt.Errorf("%q is not a header name", name)
		}
		name = http.CanonicalHeaderKey(name)
	case "json":
		if !jsonPathRE.MatchString(name) {
			return field{}, fmt.Errorf("%q is not a JSON field path (names joined by dots)", name)
		}
	case "item":
		if !itemKeyRE.MatchString(name) {
			return field{}, fmt.Errorf("%q is not an item key", name)
		}
	}
	return field{from: from, name: name}, nil
}

// parseTemplate splits "v0:{timestamp}:{body}" into literal text and the
// tokens {body}, {timestamp}, {url} and {form}.
func parseTemplate(v string) ([]part, error) {
	var parts []part
	for v != "" {
		i := strings.IndexAny(v, "{}")
		if i < 0 {
			parts = append(parts, part{text: v})
			break
		}
		if i > 0 {
			parts = append(parts, part{text: v[:i]})
		}
		if v[i] == '}' {
			return nil, errors.New("} without {")
		}
		end := strings.IndexByte(v[i:], '}')
		if end < 0 {
			return nil, errors.New("{ without }")
		}
		tok := v[i+1 : i+end]
		switch tok {
		case "body", "timestamp", "url", "form":
		default:
			return nil, fmt.Errorf("unknown %q (known: {body}, {timestamp}, {url}, {form})", "{"+tok+"}")
		}
		parts = append(parts, part{token: tok})
		v = v[i+end+1:]
	}
	return parts, nil
}

func (s *SchemeSpec) has(token string) bool {
	for _, p := range s.parts {
		if p.token == token {
			return true
		}
	}
	return false
}

// normalize fills defaults and refuses combinations that could not verify
// anything, or would verify less than they seem to (an unsigned timestamp).
func (s *SchemeSpec) normalize(set map[string]bool) error {
	if s.header == "" {
		return errors.New("header is missing (the header that carries the signature)")
	}
	if !redactedName(s.header) {
		return fmt.Errorf("header %s would be stored unredacted in receipts' headers: its name must contain signature, hmac, token, secret or auth", s.header)
	}
	if s.algorithm == "" {
		s.algorithm = "sha256"
	}
	if s.name == SchemeCustom && s.event == nil {
		s.event = []field{{"header", HeaderGenericEvent}, {"json", "event"}}
	}
	if s.timestamp != (field{}) && s.unit == "" {
		s.unit = "s"
	}
	if s.algorithm == "token" {
		for _, k := range []string{"encoding", "prefix", "items", "signed", "timestamp", "timestamp-unit", "tolerance"} {
			if set[k] || s.settingSet(k) {
				return fmt.Errorf("algorithm=token compares the header with the secret itself: %s does not apply", k)
			}
		}
		return nil
	}
	if s.encoding == "" {
		s.encoding = "hex"
	}
	if s.signed == "" {
		s.signed, s.parts = "{body}", []part{{token: "body"}}
	}
	if !s.has("body") && !s.has("form") {
		return errors.New("signed must include {body} or {form}: a signature that does not cover the body proves nothing about it")
	}
	if s.items != "" && s.prefix == "" {
		return errors.New("items needs prefix to tell signature items from the others (e.g. prefix=h1=)")
	}
	switch s.timestamp.from {
	case "":
		if s.has("timestamp") {
			return errors.New("signed uses {timestamp} but timestamp is not set (e.g. timestamp=header:X-Timestamp)")
		}
		if s.unit != "" || s.tolerance != 0 {
			return errors.New("timestamp-unit and tolerance need timestamp")
		}
	case "json":
		if s.has("timestamp") {
			return errors.New("a timestamp from the body cannot be part of signed (it is read only once the signature holds); drop {timestamp}")
		}
	case "item":
		if s.items == "" {
			return errors.New("timestamp=item:... needs items (the signature header must be a list such as ts=1;h1=ab)")
		}
		if key := s.timestamp.name + "="; strings.HasPrefix(key, s.prefix) || strings.HasPrefix(s.prefix, key) {
			return fmt.Errorf("prefix %s and the timestamp item %s overlap: items could not be told apart", s.prefix, key)
		}
		fallthrough
	case "header":
		// A timestamp outside the signed content could be changed at will:
		// checking it would only look like replay protection.
		if !s.has("timestamp") {
			return fmt.Errorf("timestamp %s is not signed: add {timestamp} to signed", s.timestamp)
		}
	}
	return nil
}

func (s *SchemeSpec) settingSet(k string) bool {
	switch k {
	case "encoding":
		return s.encoding != ""
	case "prefix":
		return s.prefix != ""
	case "items":
		return s.items != ""
	case "signed":
		return s.signed != ""
	case "timestamp":
		return s.timestamp != field{}
	case "timestamp-unit":
		return s.unit != ""
	case "tolerance":
		return s.tolerance != 0
	}
	return false
}

// String writes the spec in ParseSchemeSpec's syntax, every setting
// spelled out (after the preset's name, if it came from one), so that
// ParseSchemeSpec(s.String()) is s again.
func (s SchemeSpec) String() string {
	var out []string
	if s.name != SchemeCustom && s.name != "" {
		out = append(out, string(s.name))
	}
	add := func(k, v string) {
		if v != "" {
			out = append(out, k+"="+v)
		}
	}
	fields := func(fs []field) string {
		ss := make([]string, len(fs))
		for i, f := range fs {
			ss[i] = f.String()
		}
		return strings.Join(ss, ",")
	}
	add("header", s.header)
	add("algorithm", s.algorithm)
	add("encoding", s.encoding)
	add("prefix", s.prefix)
	add("items", s.items)
	add("signed", s.signed)
	if s.timestamp != (field{}) {
		add("timestamp", s.timestamp.String())
		add("timestamp-unit", s.unit)
	}
	if s.tolerance != 0 {
		add("tolerance", s.tolerance.String())
	}
	add("event", fields(s.event))
	add("id", fields(s.id))
	return strings.Join(out, ";")
}

// verifyCustom checks a delivery against the source's configured scheme.
func (s *Source) verifyCustom(req Request, now time.Time) (Verification, error) {
	sp := s.scheme
	if !has(req.Header, sp.header) {
		return Verification{}, unauthorized("The delivery has no %s header.", sp.header)
	}
	value := req.Header.Get(sp.header)
	if sp.algorithm == "token" {
		if !matchToken(s.hmacKeys, value) {
			return Verification{}, unauthorized("%s does not match.", sp.header)
		}
		// The token is the secret: it is stored nowhere.
		return Verification{Scheme: sp.name, Signature: RedactedValue, spec: sp}, nil
	}

	candidates, itemTime, err := sp.parseSignature(value)
	if err != nil {
		return Verification{}, unauthorized("%s is malformed: %s.", sp.header, err)
	}
	var rawTime string
	switch sp.timestamp.from {
	case "header", "item":
		rawTime = itemTime
		if sp.timestamp.from == "header" {
			rawTime = req.Header.Get(sp.timestamp.name)
		}
		ts, err := parseUnixTime(rawTime, sp.unit)
		if err != nil {
			return Verification{}, unauthorized("The timestamp (%s) is missing or malformed: %s.", sp.timestamp.describe(), err)
		}
		if err := s.checkTimeWithin(ts, now, sp.tolerance); err != nil {
			return Verification{}, err
		}
	}

	contents, err := sp.content(req, rawTime)
	if err != nil {
		return Verification{}, unauthorized("%s cannot be checked: %s.", sp.header, err)
	}
	if !matchMAC(hashes[sp.algorithm].new, s.hmacKeys, contents, candidates) {
		return Verification{}, unauthorized("%s does not match the body.", sp.header)
	}

	if sp.timestamp.from == "json" {
		// Only now is the body known to be the sender's.
		payload, err := sp.payload(encodingOf(req.Header), req.Body)
		if err != nil {
			return Verification{}, unauthorized("The timestamp (%s) cannot be read: the payload is not JSON.", sp.timestamp.describe())
		}
		raw, _ := jsonValue(payload, sp.timestamp.name)
		ts, err := parseUnixTime(raw, sp.unit)
		if err != nil {
			return Verification{}, unauthorized("The timestamp (%s) is missing or malformed: %s.", sp.timestamp.describe(), err)
		}
		if err := s.checkTimeWithin(ts, now, sp.tolerance); err != nil {
			return Verification{}, err
		}
	}
	return Verification{Scheme: sp.name, Signature: value, spec: sp}, nil
}

// matchToken compares a shared-secret header with every secret. Both sides
// are hashed first, so the comparison takes the same time whatever their
// lengths (subtle.ConstantTimeCompare returns early on a length mismatch).
func matchToken(secrets [][]byte, value string) bool {
	given := sha256.Sum256([]byte(value))
	match := false
	for _, sec := range secrets {
		want := sha256.Sum256(sec)
		if hmac.Equal(given[:], want[:]) {
			match = true
		}
	}
	return match
}

// matchMAC tries every key over every content variant against every
// candidate, without stopping at the first match, comparing in constant
// time.
func matchMAC(newHash func() hash.Hash, keys, contents, candidates [][]byte) bool {
	match := false
	for _, k := range keys {
		for _, c := range contents {
			mac := hmac.New(newHash, k)
			mac.Write(c)
			want := mac.Sum(nil)
			for _, cand := range candidates {
				if hmac.Equal(want, cand) {
					match = true
				}
			}
		}
	}
	return match
}

// parseSignature decodes the signature header into candidate MACs and,
// with items, the timestamp item's value.
func (s *SchemeSpec) parseSignature(v string) (candidates [][]byte, timestamp string, err error) {
	v = strings.TrimSpace(v)
	if s.items == "" {
		rest, ok := strings.CutPrefix(v, s.prefix)
		if !ok {
			return nil, "", fmt.Errorf("expected %s<%s>", s.prefix, s.encoding)
		}
		sig, err := s.decode(rest)
		if err != nil {
			return nil, "", err
		}
		return [][]byte{sig}, "", nil
	}
	var list []string
	if s.items == "space" {
		list = strings.Fields(v)
	} else {
		list = strings.Split(v, itemSeparators[s.items])
	}
	tsKey := ""
	if s.timestamp.from == "item" {
		tsKey = s.timestamp.name + "="
	}
	seenTime := false
	for _, item := range list {
		item = strings.TrimSpace(item)
		switch {
		case strings.HasPrefix(item, s.prefix):
			sig, err := s.decode(item[len(s.prefix):])
			if err != nil {
				return nil, "", err
			}
			candidates = append(candidates, sig)
		case tsKey != "" && strings.HasPrefix(item, tsKey):
			if seenTime {
				return nil, "", fmt.Errorf("more than one %s", tsKey)
			}
			seenTime, timestamp = true, item[len(tsKey):]
		}
	}
	if len(candidates) == 0 {
		return nil, "", fmt.Errorf("no %s<%s> item", s.prefix, s.encoding)
	}
	return candidates, timestamp, nil
}

func (s *SchemeSpec) decode(v string) ([]byte, error) {
	size := hashes[s.algorithm].size
	var sig []byte
	var err error
	if s.encoding == "base64" {
		sig, err = base64.StdEncoding.DecodeString(v)
	} else {
		sig, err = hex.DecodeString(v)
	}
	if err != nil || len(sig) != size {
		if s.encoding == "base64" {
			return nil, fmt.Errorf("expected the base64 of %d bytes", size)
		}
		return nil, fmt.Errorf("expected %d hex digits", 2*size)
	}
	return sig, nil
}

// content builds the signed content from the template. It returns more
// than one variant when the sender may have signed the URL with or
// without its default port (Twilio's libraries accept both).
func (s *SchemeSpec) content(req Request, timestamp string) ([][]byte, error) {
	urls := []string{""}
	if s.has("url") {
		if req.URL == "" {
			return nil, errors.New("the server did not pass the request URL that this scheme signs")
		}
		urls = urlVariants(req.URL)
	}
	var form []byte
	if s.has("form") {
		f, err := formContent(req)
		if err != nil {
			return nil, err
		}
		form = f
	}
	out := make([][]byte, 0, len(urls))
	for _, u := range urls {
		var b bytes.Buffer
		for _, p := range s.parts {
			switch p.token {
			case "":
				b.WriteString(p.text)
			case "body":
				b.Write(req.Body)
			case "timestamp":
				b.WriteString(timestamp)
			case "url":
				b.WriteString(u)
			case "form":
				b.Write(form)
			}
		}
		out = append(out, b.Bytes())
	}
	return out, nil
}

// formContent is Twilio's rendering of a form body: every field sorted by
// name, each name followed by its value (values of a repeated name sorted
// too), decoded, with nothing between them. A body that is not a form is
// signed through the URL alone; its integrity is then the URL's
// bodySHA256 parameter, the hex SHA-256 of the body (Twilio's JSON
// webhooks).
func formContent(req Request) ([]byte, error) {
	if encodingOf(req.Header) != EncodingForm {
		u, err := url.Parse(req.URL)
		if err != nil {
			return nil, errors.New("the request URL cannot be parsed")
		}
		want := u.Query().Get("bodySHA256")
		sum := sha256.Sum256(req.Body)
		if want == "" || !hmac.Equal([]byte(strings.ToLower(want)), []byte(hex.EncodeToString(sum[:]))) {
			return nil, errors.New("a body that is not a form must be covered by a bodySHA256 URL parameter")
		}
		return nil, nil
	}
	form, err := url.ParseQuery(string(req.Body))
	if err != nil {
		return nil, errors.New("the form body cannot be parsed")
	}
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	for _, k := range keys {
		vs := append([]string(nil), form[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	return b.Bytes(), nil
}

// urlVariants is u and u with its default port added or removed.
func urlVariants(u string) []string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return []string{u}
	}
	def := map[string]string{"http": "80", "https": "443"}[strings.ToLower(scheme)]
	if def == "" {
		return []string{u}
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	host, tail := rest[:end], rest[end:]
	if strings.Contains(host, "@") {
		return []string{u}
	}
	if h, port, ok := cutPort(host); ok {
		if port != def {
			return []string{u}
		}
		return []string{u, scheme + "://" + h + tail}
	}
	return []string{u, scheme + "://" + host + ":" + def + tail}
}

// cutPort splits host:port; IPv6 literals keep their brackets.
func cutPort(host string) (string, string, bool) {
	i := strings.LastIndexByte(host, ':')
	if i < 0 || strings.LastIndexByte(host, ']') > i {
		return host, "", false
	}
	return host[:i], host[i+1:], true
}

// payload is the JSON document of a delivery under a configured scheme: the
// body, or for a form the JSON in its only field, payload (GitHub, Slack's
// interactive payloads), or else an object of the form's fields (Slack's
// slash commands, Twilio), each a string, or an array of strings for a
// repeated name.
func (s *SchemeSpec) payload(enc Encoding, body []byte) ([]byte, error) {
	if enc != EncodingForm {
		return body, nil
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, invalidPayload("The form-encoded body cannot be parsed.")
	}
	if p := form["payload"]; len(form) == 1 && len(p) == 1 {
		return []byte(p[0]), nil
	}
	obj := make(map[string]any, len(form))
	for k, vs := range form {
		if !utf8.ValidString(k) {
			return nil, invalidPayload("The form's field names must be UTF-8.")
		}
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return nil, invalidPayload("The form's field %q is not UTF-8.", k)
			}
		}
		if len(vs) == 1 {
			obj[k] = vs[0]
		} else {
			obj[k] = vs
		}
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return nil, invalidPayload("The form cannot be turned into JSON.")
	}
	return out, nil
}

// lookup returns the first non-empty value of fields, from the headers or
// the JSON payload.
func (s *SchemeSpec) lookup(fields []field, h http.Header, payload []byte) string {
	for _, f := range fields {
		var v string
		switch f.from {
		case "header":
			v = strings.TrimSpace(h.Get(f.name))
		case "json":
			v, _ = jsonValue(payload, f.name)
		}
		if v != "" {
			return v
		}
	}
	return ""
}

func (s *SchemeSpec) eventHint() string {
	where := make([]string, len(s.event))
	for i, f := range s.event {
		where[i] = f.describe()
	}
	return "The delivery has no event: expected " + strings.Join(where, ", or ") + "."
}

// jsonValue is the string or number at a dotted path of a JSON object
// (numbers as written), trimmed; ok is false for anything else.
func jsonValue(doc []byte, path string) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return "", false
	}
	for _, name := range strings.Split(path, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		v = obj[name]
	}
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x), true
	case json.Number:
		return x.String(), true
	}
	return "", false
}

// parseUnixTime parses whole Unix seconds (unit s, as ParseTimestamp) or
// milliseconds (unit ms): digits only.
func parseUnixTime(v, unit string) (time.Time, error) {
	if unit != "ms" {
		return ParseTimestamp(v)
	}
	if v == "" || len(v) > 15 {
		return time.Time{}, errors.New("expected Unix milliseconds")
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return time.Time{}, errors.New("expected Unix milliseconds")
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, errors.New("expected Unix milliseconds")
	}
	return time.UnixMilli(n), nil
}

func encodingOf(h http.Header) Encoding {
	enc, _ := EncodingOf(h.Get("Content-Type"))
	return enc
}
