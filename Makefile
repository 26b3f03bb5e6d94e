# make [PREFIX=/usr/local] [DESTDIR=] install puts sure, its man pages and
# its shell completions where the FHS and the shells look for them.

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man/man1
BASHDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHDIR  ?= $(PREFIX)/share/zsh/site-functions
FISHDIR ?= $(PREFIX)/share/fish/vendor_completions.d
GO      ?= go
# Where the build's products go.
B       ?= build

.PHONY: all install uninstall clean FORCE

all: $(B)/sure $(B)/man/sure.1 $(B)/completions/sure.bash

# The go command decides what is stale; make always asks it.
$(B)/sure: FORCE
	$(GO) build -o $@ ./cmd/sure

$(B)/man/sure.1: $(B)/sure
	rm -rf $(B)/man
	$(B)/sure man $(B)/man

$(B)/completions/sure.bash: $(B)/sure
	mkdir -p $(B)/completions
	$(B)/sure completion bash > $(B)/completions/sure.bash
	$(B)/sure completion zsh > $(B)/completions/_sure
	$(B)/sure completion fish > $(B)/completions/sure.fish

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR) $(DESTDIR)$(BASHDIR) $(DESTDIR)$(ZSHDIR) $(DESTDIR)$(FISHDIR)
	install -m 0755 $(B)/sure $(DESTDIR)$(BINDIR)/sure
	install -m 0644 $(B)/man/*.1 $(DESTDIR)$(MANDIR)/
	install -m 0644 $(B)/completions/sure.bash $(DESTDIR)$(BASHDIR)/sure
	install -m 0644 $(B)/completions/_sure $(DESTDIR)$(ZSHDIR)/_sure
	install -m 0644 $(B)/completions/sure.fish $(DESTDIR)$(FISHDIR)/sure.fish

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/sure $(DESTDIR)$(MANDIR)/sure.1 $(DESTDIR)$(MANDIR)/sure-*.1
	rm -f $(DESTDIR)$(BASHDIR)/sure $(DESTDIR)$(ZSHDIR)/_sure $(DESTDIR)$(FISHDIR)/sure.fish

clean:
	rm -rf $(B)
