# bcryptprimitives.dll for wine 8, which lacks it: the Go runtime (1.24 and
# later) takes its random bytes from ProcessPrng and will not start without
# it. ProcessPrng(buf, len) is answered by advapi32's RtlGenRandom
# (SystemFunction036); its length is 32 bits, which the runtime's requests
# never exceed.
	.text
	.globl	ProcessPrng
ProcessPrng:
	subq	$40, %rsp
	call	*__imp_SystemFunction036(%rip)
	addq	$40, %rsp
	movzbl	%al, %eax
	ret

	.globl	DllMain
DllMain:
	movl	$1, %eax
	ret
