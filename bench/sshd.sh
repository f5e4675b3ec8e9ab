# Sourced by the sync benchmarks: a private sshd on a loopback port with throwaway keys, so
# the SSH numbers are measured through real ssh without touching the system's configuration.
# start_sshd DIR → sets SSH_CMD (the ssh command line to use) and SSH_HOST; stop_sshd DIR.
start_sshd() {
	_d=$1
	mkdir -p "$_d"
	ssh-keygen -q -t ed25519 -N '' -f "$_d/host_key"
	ssh-keygen -q -t ed25519 -N '' -f "$_d/client_key"
	cp "$_d/client_key.pub" "$_d/authorized_keys"
	_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	cat >"$_d/sshd_config" <<CONF
ListenAddress 127.0.0.1
Port $_port
HostKey $_d/host_key
AuthorizedKeysFile $_d/authorized_keys
PidFile $_d/sshd.pid
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
MaxStartups 64
MaxSessions 64
CONF
	mkdir -p /run/sshd
	/usr/sbin/sshd -f "$_d/sshd_config" -E "$_d/sshd.log"
	_i=0
	while ! ssh-keyscan -p "$_port" 127.0.0.1 >/dev/null 2>&1; do
		_i=$((_i + 1))
		[ $_i -lt 50 ] || { echo "sshd did not start: see $_d/sshd.log" >&2; return 1; }
		sleep 0.1
	done
	SSH_HOST=127.0.0.1
	SSH_CMD="ssh -F /dev/null -i $_d/client_key -p $_port -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
}

stop_sshd() {
	[ -f "$1/sshd.pid" ] && kill "$(cat "$1/sshd.pid")" 2>/dev/null || true
}
