/*
 * The kernel's floor for a fan-out on this machine: the CPU one process spends per UDP packet sent
 * over loopback (including the loopback delivery the kernel charges to the sender) to N receiving
 * sockets in another process, with one sendto per packet or sendmmsg batches. No SRTP, no
 * userland work beyond the call: what any media node's send path costs at least here.
 * Built and run by bench/udp-floor.ts; usage: udp-floor N BATCH ROUNDS (one round = one packet
 * to each of the N sockets, rounds paced at 50/s like one Opus stream).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <time.h>
#include <signal.h>
static double cpu(void){struct rusage r;getrusage(RUSAGE_SELF,&r);return r.ru_utime.tv_sec+r.ru_utime.tv_usec/1e6+r.ru_stime.tv_sec+r.ru_stime.tv_usec/1e6;}
int main(int argc,char**argv){
  int N=atoi(argv[1]); int batch=atoi(argv[2]); int rounds=atoi(argv[3]);
  int base=40000;
  int socks[5000];
  if(N<1||N>5000||batch<1||rounds<1){fprintf(stderr,"usage: udp-floor N(1..5000) BATCH ROUNDS\n");return 2;}
  for(int i=0;i<N;i++){socks[i]=socket(AF_INET,SOCK_DGRAM|SOCK_NONBLOCK,0);struct sockaddr_in a={.sin_family=AF_INET,.sin_port=htons(base+i)};a.sin_addr.s_addr=htonl(0x7f000001);if(bind(socks[i],(void*)&a,sizeof a)){perror("bind");return 1;}}
  pid_t pid=fork();
  if(pid==0){ // receiver: drain all
    int ep=epoll_create1(0);
    for(int i=0;i<N;i++){struct epoll_event e={.events=EPOLLIN,.data.fd=socks[i]};epoll_ctl(ep,EPOLL_CTL_ADD,socks[i],&e);}
    struct epoll_event ev[256]; char buf[2048]; long got=0;
    for(;;){int n=epoll_wait(ep,ev,256,2000); if(n<=0)break; for(int i=0;i<n;i++) while(recv(ev[i].data.fd,buf,sizeof buf,0)>0) got++;}
    fprintf(stderr,"received %ld\n",got); _exit(0);
  }
  for(int i=0;i<N;i++) close(socks[i]);
  int s=socket(AF_INET,SOCK_DGRAM,0);
  struct sockaddr_in src={.sin_family=AF_INET,.sin_port=htons(39999)};src.sin_addr.s_addr=htonl(0x7f000001);bind(s,(void*)&src,sizeof src);
  char pkt[120]; memset(pkt,7,sizeof pkt);
  struct sockaddr_in *dst=calloc(N,sizeof *dst);
  for(int i=0;i<N;i++){dst[i].sin_family=AF_INET;dst[i].sin_port=htons(base+i);dst[i].sin_addr.s_addr=htonl(0x7f000001);}
  struct mmsghdr *mm=calloc(N,sizeof *mm); struct iovec *iov=calloc(N,sizeof *iov);
  for(int i=0;i<N;i++){iov[i].iov_base=pkt;iov[i].iov_len=sizeof pkt;mm[i].msg_hdr.msg_name=&dst[i];mm[i].msg_hdr.msg_namelen=sizeof dst[i];mm[i].msg_hdr.msg_iov=&iov[i];mm[i].msg_hdr.msg_iovlen=1;}
  usleep(200000);
  double c0=cpu(); long sent=0;
  struct timespec ts={0,20000000};
  for(int r=0;r<rounds;r++){
    if(batch<=1){for(int i=0;i<N;i++){sendto(s,pkt,sizeof pkt,0,(void*)&dst[i],sizeof dst[i]);sent++;}}
    else{for(int i=0;i<N;i+=batch){int k=N-i<batch?N-i:batch;int m=sendmmsg(s,&mm[i],k,0);sent+=m>0?m:0;}}
    nanosleep(&ts,0); // 50 pkt/s pacing
  }
  double c1=cpu();
  printf("N=%d batch=%d sent=%ld sender cpu %.2f us/pkt\n",N,batch,sent,(c1-c0)*1e6/sent);
  kill(pid,SIGTERM); wait(0);
  return 0;
}
