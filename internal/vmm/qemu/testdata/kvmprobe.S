/*
 * The KVM probe guest (see kvmprobe.go): a 64 KiB BIOS image for
 * `qemu-system-x86_64 -M microvm -bios`. From the reset vector it does what
 * every standard x86-64 guest does on its way to a kernel, then reports:
 *
 *   real mode -> protected mode -> long mode with 4-level paging (identity
 *   map of 4 GiB in 2 MiB pages) -> SSE stores to one word of each 4 KiB
 *   page of 16..48 MiB (page faults on a fresh guest) -> 20M iterations of
 *   a compute loop -> outb 0x2a to isa-debug-exit at 0xf4, which ends QEMU
 *   with status (0x2a << 1) | 1 = 85.
 *
 * A KVM that cannot run standard guests fails on the way: on a paravirtual
 * KVM (kvm_pvm) everything outside its own guests' mode is emulated
 * instruction by instruction, the SSE store is an "emulation failure" (KVM
 * internal error, suberror 1), and even without it the loop would take tens
 * of seconds at ~2M emulated instructions/s. Real KVM runs it all in ~20 ms.
 *
 * Assemble: as --64 -o p.o kvmprobe.S && ld -Ttext=0 --oformat binary -o p.bin p.o
 * (`go test -run TestKVMProbePayload -update` regenerates kvmprobe_payload.go).
 */
	.set BASE, 0xFFFF0000   /* where the 64 KiB image sits below 4 GiB */
	.set PML4, 0x1000
	.set PDPT, 0x2000
	.set PD,   0x3000       /* four page directories, 0x3000..0x6fff */

	.code16
	.globl _start
_start:
	cli
	cld
	lgdtl %cs:(gdtr - _start)
	movl %cr0, %eax
	orl $1, %eax                    /* PE */
	movl %eax, %cr0
	ljmpl $0x08, $(BASE + pm32 - _start)

	.code32
pm32:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	xorl %eax, %eax                 /* zero PML4, PDPT and the PDs */
	movl $PML4, %edi
	movl $(6*4096/4), %ecx
	rep stosl
	movl $(PDPT | 3), PML4
	movl $(PD | 3), %eax            /* PDPT[k] = PD + k*4096 | P|RW */
	movl $PDPT, %edi
	movl $4, %ecx
1:	movl %eax, (%edi)
	addl $4096, %eax
	addl $8, %edi
	loop 1b
	movl $0x83, %eax                /* 2048 x 2 MiB pages, P|RW|PS */
	xorl %edx, %edx
	movl $PD, %edi
	movl $2048, %ecx
2:	movl %eax, (%edi)
	movl %edx, 4(%edi)
	addl $0x200000, %eax
	adcl $0, %edx
	addl $8, %edi
	loop 2b
	movl $PML4, %eax
	movl %eax, %cr3
	movl %cr4, %eax
	orl $0x620, %eax                /* PAE | OSFXSR | OSXMMEXCPT */
	movl %eax, %cr4
	movl $0xC0000080, %ecx          /* EFER.LME */
	rdmsr
	orl $0x100, %eax
	wrmsr
	movl %cr0, %eax
	andl $~0x4, %eax                /* clear EM */
	orl $0x80000002, %eax           /* PG | MP */
	movl %eax, %cr0
	ljmpl $0x18, $(BASE + lm64 - _start)

	.code64
lm64:
	pxor %xmm0, %xmm0
	movq $0x1000000, %rdi
3:	movdqu %xmm0, (%rdi)
	addq $4096, %rdi
	cmpq $0x3000000, %rdi
	jb 3b
	movl $20000000, %ecx
	xorl %eax, %eax
4:	addq %rcx, %rax
	decq %rcx
	jnz 4b
	movb $0x2a, %al
	outb %al, $0xf4
5:	hlt
	jmp 5b

	.p2align 3
gdt:
	.quad 0
	.quad 0x00cf9b000000ffff        /* 0x08: 32-bit code */
	.quad 0x00cf93000000ffff        /* 0x10: data */
	.quad 0x00af9b000000ffff        /* 0x18: 64-bit code */
gdt_end:
gdtr:
	.word gdt_end - gdt - 1
	.long BASE + gdt - _start

	.org 0xfff0                     /* the reset vector, F000:FFF0 */
	.code16
	jmp _start                      /* IP wraps to 0 */
	.org 0x10000
